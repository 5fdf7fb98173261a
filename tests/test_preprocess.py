"""The command line's tabular steps: scikit-learn's imputer, scaler and one-hot encoder are the reference,
and a mixed table (text, missing cells) goes through train, predict and export."""

import subprocess
import sys

import numpy as np
import pytest

from fastbp import preprocess


def _table(rng, n=200):
    a = rng.normal(size=n)
    b = np.where(rng.random(n) < 0.15, np.nan, rng.normal(3.0, 2.0, n))
    c = rng.integers(0, 5, n).astype(np.int64)  # whole numbers, nothing missing
    region = rng.choice(
        np.array(["east", "west", "north", "south", "alps"]), n, p=[0.4, 0.3, 0.15, 0.1, 0.05]
    )
    region = np.array([None if rng.random() < 0.05 else r for r in region], dtype=object)
    return ["a", "b", "c", "region"], [a, b, c, region]


@pytest.mark.parametrize("max_categories", [None, 2])
def test_the_steps_equal_scikit_learns_imputer_scaler_and_encoder(rng, max_categories):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    names, columns = _table(rng)
    train = rng.random(len(columns[0])) < 0.8
    steps = preprocess.fit(names, columns, train, max_categories)
    X = preprocess.transform(steps, names, columns)
    numbers = np.column_stack([columns[0], columns[1], columns[2].astype(float)])
    imputer = SimpleImputer(strategy="median", add_indicator=True).fit(numbers[train])
    imputed = imputer.transform(numbers)
    scaled = StandardScaler().fit(imputed[train, :3]).transform(imputed[:, :3])
    np.testing.assert_allclose(X[:, :3], scaled, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(X[:, 3:4], imputed[:, 3:])  # b's indicator, after the numbers
    texts = np.array(["" if v is None else v for v in columns[3]], dtype=object).reshape(-1, 1)
    limit = None if max_categories is None else max_categories + 1  # scikit-learn counts "other" in it
    encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False, max_categories=limit)
    encoded = encoder.fit(texts[train]).transform(texts)
    ours = X[:, 4:]
    if max_categories is None:  # every category kept; the "other" slot stays empty in training
        assert not ours[:, -1].any()
        ours = ours[:, :-1]
    assert sklearn.__version__ and ours.shape == encoded.shape
    np.testing.assert_array_equal(ours, encoded)
    unseen = preprocess.transform(steps, ["a", "b", "c", "region"], [[0.0], [np.nan], [1], ["mars"]])
    assert unseen[0, -1] == 1.0 and unseen[0, 4:-1].sum() == 0  # an unseen value goes to "other"
    assert unseen[0, 3] == 1.0  # b was missing


def test_the_steps_survive_json_and_refuse_damage(rng):
    names, columns = _table(rng)
    steps = preprocess.fit(names, columns, np.ones(len(columns[0]), bool))
    assert preprocess.from_json(preprocess.to_json(steps)) == steps
    for damage in [[], [{"name": "a"}], [{**preprocess.to_json(steps)[0], "scale": 0.0}],
                   [{**preprocess.to_json(steps)[0], "kind": "image"}],
                   [{**preprocess.to_json(steps)[3], "categories": [1, 2]}]]:  # fmt: skip
        with pytest.raises(ValueError):
            preprocess.from_json(damage)
    summary = preprocess.summary(steps, names, columns, np.ones(len(columns[0]), bool))
    assert summary.startswith("3 numeric, 1 text column (") and "% missing cells imputed" in summary


def _cli(*args, cwd, ok=True):
    done = subprocess.run([sys.executable, "-m", "fastbp", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)  # fmt: skip
    assert (done.returncode == 0) == ok, done.stderr
    return done


def test_a_mixed_table_trains_predicts_and_says_what_was_done(tmp_path, rng):
    names, columns = _table(rng, 240)
    label = np.where(columns[0] + (columns[3] == "east") > 0.4, "yes", "no")
    with open(tmp_path / "mixed.csv", "w") as f:
        f.write(";".join([*names, "label"]) + "\n")
        for row in zip(*columns, label):
            f.write(";".join("" if v is None or v != v else str(v) for v in row) + "\n")
    said = _cli("train", "mixed.csv", "--target", "label", "--epochs", "5", "-q", cwd=tmp_path).stdout
    first = said.splitlines()[0]
    assert (
        first.startswith("features: 3 numeric, 1 text column (6 categories)")
        and "missing cells imputed" in first
    )
    (tmp_path / "new.csv").write_text("a;b;c;region\n0.5;;2;mars\n-1;3.5;0;\n")
    predicted = _cli("predict", "mixed.fbp", "new.csv", "--proba", cwd=tmp_path).stdout.splitlines()
    assert predicted[0] == "p_no,p_yes" and len(predicted) == 3
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    said = _cli("export", "mixed.fbp", "m.onnx", cwd=tmp_path).stdout
    assert "'X' (N, 3) float32: the columns a, b, c, NaN where missing; 'region' (N, 1) strings" in said
    session = ort.InferenceSession(onnx.load(tmp_path / "m.onnx").SerializeToString(),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    numbers = np.array([[0.5, np.nan, 2.0], [-1.0, 3.5, 0.0]], dtype=np.float32)
    regions = np.array([["mars"], [""]], dtype=object)  # never seen, and a missing cell
    label, proba = session.run(None, {"X": numbers, "region": regions})
    expected = np.array([row.split(",") for row in predicted[1:]], dtype=np.float64)
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)
    labels = _cli("predict", "mixed.fbp", "new.csv", cwd=tmp_path).stdout.splitlines()[1:]
    assert list(label.astype(str)) == labels


def test_missing_number_cells_export_to_onnx_and_equal_predict(tmp_path, rng):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    X = rng.normal(size=(150, 3))
    y = X[:, 0] * 10 + 100
    X[rng.random(X.shape) < 0.1] = np.nan
    with open(tmp_path / "d.csv", "w") as f:
        f.write("a,b,c,y\n")
        for row, t in zip(X.tolist(), y.tolist()):
            f.write(",".join("" if v != v else repr(v) for v in row) + f",{t!r}\n")
    _cli("train", "d.csv", "--target", "y", "--epochs", "5", "-q", cwd=tmp_path)
    _cli("export", "d.fbp", "d.onnx", cwd=tmp_path)
    _cli("predict", "d.fbp", "d.csv", "--out", "p.csv", cwd=tmp_path)
    expected = np.loadtxt(tmp_path / "p.csv", skiprows=1)
    model = onnx.load(tmp_path / "d.onnx")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    [got] = session.run(None, {"X": X.astype(np.float32)})  # NaN where a cell is missing
    np.testing.assert_allclose(got[:, 0], expected, rtol=1e-5)


def test_decimal_commas_ids_and_number_like_categories(tmp_path, rng):
    rows = [f"{i % 7},{i % 3};{'abc'[i % 3]};{i % 4};u{i};{'yes' if i % 7 > 3 else 'no'}" for i in range(120)]
    (tmp_path / "t.csv").write_text("price;kind;code;id;label\n" + "\n".join(rows) + "\n")
    # an ID column (120 different values in about 108 training rows) is refused, naming it
    refused = _cli("train", "t.csv", "--target", "label", "--epochs", "1", "-q", cwd=tmp_path, ok=False)
    assert "column 'id' holds" in refused.stderr and "--max-categories" in refused.stderr
    (tmp_path / "t.csv").write_text("price;kind;code;label\n" + "\n".join(r.rsplit(";", 2)[0] + ";" +
                                    r.rsplit(";", 1)[1] for r in rows) + "\n")  # fmt: skip
    said = _cli("train", "t.csv", "--target", "label", "--epochs", "1", "-q", cwd=tmp_path).stdout
    assert said.splitlines()[0].startswith("features: 2 numeric, 1 text column (3 categories)")  # 1,5 is 1.5
    # a text column whose values look like numbers in the predict file stays text, verbatim
    rows = [f"{i % 3};{['007', '10', 'x'][i % 3]};{'yes' if i % 3 else 'no'}" for i in range(60)]
    (tmp_path / "c.csv").write_text("a;code;label\n" + "\n".join(rows) + "\n")
    _cli("train", "c.csv", "--target", "label", "--epochs", "30", "-q", cwd=tmp_path)
    (tmp_path / "p.csv").write_text("a;code\n0;007\n1;10\n2;\n")  # numbers only, and a missing cell
    printed = _cli("predict", "c.fbp", "p.csv", "--proba", cwd=tmp_path).stdout.splitlines()[1:]
    import fastbp

    steps = preprocess.from_json(fastbp.io.read(tmp_path / "c.fbp").header["extra"]["cli"]["columns"])
    verbatim = [np.array([0.0, 1.0, 2.0]), np.array(["007", "10", None], object)]
    X = preprocess.transform(steps, ["a", "code"], verbatim)
    assert X[:, -4:].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]  # "007", "10", unseen ""
    expected = fastbp.load(tmp_path / "c.fbp").predict(X)
    np.testing.assert_allclose(
        np.array([r.split(",") for r in printed], float), expected, rtol=1e-5, atol=1e-6
    )


def test_export_refuses_a_column_named_like_an_output(tmp_path):
    rows = [f"{i % 5};{'ab'[i % 2]};{'yes' if i % 3 else 'no'}" for i in range(60)]
    (tmp_path / "d.csv").write_text("a;probabilities;y\n" + "\n".join(rows) + "\n")
    _cli("train", "d.csv", "--target", "y", "--epochs", "1", "-q", cwd=tmp_path)
    refused = _cli("export", "d.fbp", "d.onnx", cwd=tmp_path, ok=False)
    assert "the output name 'probabilities' is taken" in refused.stderr and "Traceback" not in refused.stderr


def test_a_shuffled_pandas_index_is_dropped_too(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": rng.normal(size=80), "y": rng.integers(0, 2, 80)}).sample(
        frac=1, random_state=0
    )
    frame.to_csv(tmp_path / "s.csv")  # the index: 0..79 shuffled
    said = _cli("train", "s.csv", "--target", "y", "--epochs", "1", "-q", cwd=tmp_path).stdout
    assert "dropped the unnamed first column" in said and "(80 rows, 1 columns" in said
