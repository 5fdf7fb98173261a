"""The planted bugs of the mutation check; see ``run.py`` for how they are applied and run.

Each ``Mutation`` is one realistic bug: a short name, a one-line description,
one or more exact textual ``Edit``s (``old`` must occur exactly once in the
file when the edit is made, or the runner reports the mutation as STALE) and
the tests that should catch it, as pytest arguments (a test file or a node
id, relative to the repository root).  Test paths that do not exist are
skipped with a warning, so a mutation may name test files not written yet.

Keep each test list to the files (or tests) that matter: a mutation under
``fastbp/kernels/`` or in ``fastbp/_jit.py`` recompiles every kernel, and
every test process it starts compiles again.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    """Replace ``old``, which must occur exactly once, with ``new`` in ``path`` (from the repo root)."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutation:
    name: str
    description: str
    edits: tuple
    tests: tuple


# test files, and node ids of single tests
KERNELS = "tests/test_kernels.py"
GRADIENTS = "tests/test_gradients.py"
MODEL = "tests/test_model.py"
OPTIMIZERS = "tests/test_optimizers.py"
PARALLEL = "tests/test_parallel.py"
IO = "tests/test_io.py"
RELIABILITY = "tests/test_reliability.py"
ESTIMATORS = "tests/test_estimators.py"
# dropout, shuffled fits and whole fits against NumPy references
TRAINING_REFERENCE = "tests/test_training_reference.py"
# PyTorch autograd and torch.optim as the oracle
TORCH_ORACLE = "tests/test_torch_oracle.py"
NEW_ORACLES = (TRAINING_REFERENCE, TORCH_ORACLE)

ACTIVATION_KERNEL = f"{KERNELS}::test_activation_matches_reference"
LOSS_KERNEL = f"{KERNELS}::test_loss_matches_reference"
EVERY_GRADIENT = f"{GRADIENTS}::test_gradient_every_activation_and_loss"
WEIGHTED_GRADIENT = f"{GRADIENTS}::test_gradient_with_sample_weights"
CHUNKED_GRADIENT = f"{PARALLEL}::test_chunked_gradient_equals_one_serial_pass"
CHUNKED_FIT = f"{PARALLEL}::test_fit_on_the_chunked_path_matches_the_serial_path"
RESUME = f"{RELIABILITY}::test_resume_reaches_the_same_weights_bit_for_bit"
RESUME_AFTER_STOP = f"{RELIABILITY}::test_resume_after_early_stop_and_with_an_optimizer_name"
SCALE_FREE_WEIGHTS = f"{MODEL}::test_sample_weights_scale_free_and_reported_loss"

ACTIVATION_TESTS = (ACTIVATION_KERNEL, EVERY_GRADIENT, *NEW_ORACLES)
OPTIMIZER_TESTS = (OPTIMIZERS, *NEW_ORACLES)
DROPOUT_TESTS = (
    f"{GRADIENTS}::test_gradient_through_dropout_with_fixed_mask",
    CHUNKED_GRADIENT,
    CHUNKED_FIT,
    *NEW_ORACLES,
)
SOFTMAX_TESTS = (f"{KERNELS}::test_output_transform", MODEL)  # test_model.py: the predict-softmax tests

NETWORK = "fastbp/kernels/network.py"
FEATURE_MAJOR = "fastbp/kernels/feature_major.py"
LOSSES = "fastbp/kernels/losses.py"
KERNEL_OPTIMIZERS = "fastbp/kernels/optimizers.py"
ACTIVATIONS = "fastbp/kernels/activations.py"
DENSE = "fastbp/kernels/dense.py"

ROW_MAJOR_DROPOUT = Edit(NETWORK, "keep_scale = 1.0 / (1.0 - rate)", "keep_scale = 1.0 / rate")
FEATURE_MAJOR_DROPOUT = Edit(FEATURE_MAJOR, "keep_scale = 1.0 / (1.0 - rate)", "keep_scale = 1.0 / rate")


def _m(name, description, edits, tests):
    return Mutation(name, description, tuple(edits), tuple(tests))


MUTATIONS = [
    # ------------------------------------------------------------------ dropout
    _m(
        "dropout_scale_by_rate",
        "both dropout kernels scale kept units by 1/rate instead of 1/(1-rate)",
        [ROW_MAJOR_DROPOUT, FEATURE_MAJOR_DROPOUT],
        DROPOUT_TESTS,
    ),
    _m(
        "dropout_scale_by_rate_row_major",
        "the row-major _dropout alone scales by 1/rate instead of 1/(1-rate)",
        [ROW_MAJOR_DROPOUT],
        DROPOUT_TESTS,
    ),
    _m(
        "dropout_scale_by_rate_feature_major",
        "the feature-major _dropout_fm alone scales by 1/rate instead of 1/(1-rate)",
        [FEATURE_MAJOR_DROPOUT],
        DROPOUT_TESTS,
    ),
    # ------------------------------------------------------------------ fit loop, model
    _m(
        "shuffle_key_ignores_epoch",
        "the per-epoch shuffle (and dropout) key does not depend on the epoch: every epoch the same order",
        [
            Edit(
                "fastbp/training.py",
                "derive_key(progress.fit_seed, SHUFFLE_STREAM, progress.first_epoch + epoch)",
                "derive_key(progress.fit_seed, SHUFFLE_STREAM, progress.first_epoch)",
            )
        ],
        (
            f"{MODEL}::test_fit_with_shuffle_visits_every_row_once_per_epoch",
            f"{MODEL}::test_same_seed_same_run_and_different_seed_different_run",
            RESUME,
            *NEW_ORACLES,
        ),
    ),
    _m(
        "early_stopping_keeps_last_weights",
        "fit with early stopping ends on the last epoch's weights instead of restoring the best ones",
        [
            Edit(
                "fastbp/model.py",
                "        if progress.best_params is not None:\n"
                "            self.params[:] = progress.best_params\n"
                "        return history\n",
                "        return history\n",
            )
        ],
        (f"{MODEL}::test_early_stopping_restores_the_best_weights", RESUME_AFTER_STOP),
    ),
    _m(
        "evaluate_ignores_row_weights",
        "MLP.evaluate drops its sample_weight and returns the unweighted mean loss",
        [
            Edit(
                "fastbp/model.py",
                "return self._evaluate(X, y2d, labels, sw, ws)",
                "return self._evaluate(X, y2d, labels, NO_WEIGHTS, ws)",
            )
        ],
        (SCALE_FREE_WEIGHTS, *NEW_ORACLES),
    ),
    _m(
        "history_loss_divides_by_rows",
        "History.loss of a weighted fit divides the weighted loss sum by the row count, not the weight sum",
        [
            Edit(
                "fastbp/model.py",
                "total_weight = float(sw.sum()) if sw.size else n",
                "total_weight = n",
            )
        ],
        (SCALE_FREE_WEIGHTS, TRAINING_REFERENCE),
    ),
    _m(
        "features_nan_check_removed",
        "check_features no longer refuses NaN or inf in X",
        [
            Edit(
                "fastbp/validation.py",
                "    if not all_finite(arr.reshape(-1)):\n"
                '        raise ValueError(f"{name} contains NaN or inf (or values beyond the '
                '{np.dtype(dtype).name} range)")\n',
                "",
            )
        ],
        (
            f"{MODEL}::test_bad_data_is_refused_before_any_work",
            f"{RELIABILITY}::test_bad_input_gets_a_clear_error_before_any_work",
        ),
    ),
    _m(
        "cosine_schedule_off_by_one",
        "the cosine schedule uses epoch + 1, so the first epoch does not run at the base rate",
        [
            Edit(
                "fastbp/schedules.py",
                "math.cos(math.pi * epoch / t_max)",
                "math.cos(math.pi * (epoch + 1) / t_max)",
            )
        ],
        (f"{MODEL}::test_lr_schedules", RESUME),
    ),
    # ------------------------------------------------------------------ files and checkpoints
    _m(
        "checksum_skips_data",
        "the file checksum covers the header only, so damaged array data loads silently",
        [Edit("fastbp/io.py", "    digest.update(data)\n", "")],
        (IO,),
    ),
    _m(
        "resume_restarts_epoch_count",
        "a resumed fit starts again at epoch 0 instead of the checkpoint's epoch",
        [
            Edit(
                "fastbp/checkpoint.py",
                '    fields = {f.name for f in dataclasses.fields(Progress)} - {"best_params"}\n'
                "    progress = Progress(**{k: state[k] for k in fields},",
                '    fields = {f.name for f in dataclasses.fields(Progress)} - {"best_params", "epoch"}\n'
                "    progress = Progress(epoch=0, **{k: state[k] for k in fields},",
            )
        ],
        (RESUME, RESUME_AFTER_STOP),
    ),
    _m(
        "resume_forgets_step_count",
        "a resumed fit restarts the optimizer's step count (Adam's bias correction starts over)",
        [Edit("fastbp/checkpoint.py", '    optimizer.step_count = spec["step_count"]\n', "")],
        (RESUME, RESUME_AFTER_STOP),
    ),
    # ------------------------------------------------------------------ Python optimizers, estimators
    _m(
        "adagrad_hyper_swapped",
        "Adagrad packs eps where the kernel reads lr_decay and lr_decay where it reads eps",
        [
            Edit(
                "fastbp/optimizers.py",
                "np.array([self.lr_decay, self.eps, self.weight_decay])",
                "np.array([self.eps, self.lr_decay, self.weight_decay])",
            )
        ],
        OPTIMIZER_TESTS,
    ),
    _m(
        "estimator_stops_one_epoch_early",
        "scikit-learn's stopping rule compared with >= instead of >: stops after n_iter_no_change bad epochs",
        [
            Edit(
                "fastbp/estimators.py",
                "if est._no_improvement_count > est.n_iter_no_change:",
                "if est._no_improvement_count >= est.n_iter_no_change:",
            )
        ],
        (
            f"{ESTIMATORS}::test_early_stopping_follows_scikit_learns_rule_and_restores_the_best_epoch",
            f"{ESTIMATORS}::test_regressor_early_stopping_scores_are_r2_of_the_held_out_rows",
            f"{ESTIMATORS}::test_fitted_attributes_match_scikit_learns",
            f"{ESTIMATORS}::test_validation_data_early_stopping_and_lbfgs",
            f"{ESTIMATORS}::test_sgd_learning_rate_schedules",
        ),
    ),
    # ------------------------------------------------------------------ predict
    _m(
        "predict_softmax_no_max_shift",
        "predict's softmax exponentiates the raw logits (no max shift): overflows for large logits",
        [Edit(LOSSES, "e = exp(z[i, j] - zmax)", "e = exp(z[i, j])")],
        SOFTMAX_TESTS,
    ),
    _m(
        "predict_softmax_not_normalised",
        "predict's softmax returns the exponentials without dividing by their sum",
        [Edit(LOSSES, "            for j in range(k):\n                out[i, j] /= s\n", "")],
        SOFTMAX_TESTS,
    ),
    # ------------------------------------------------------------------ losses
    _m(
        "ce_loss_no_max_shift",
        "cross-entropy's log-sum-exp without the max shift: right for moderate logits, overflows for huge",
        [
            Edit(LOSSES, "e = exp(out[i, j] - zmax)", "e = exp(out[i, j])"),
            Edit(LOSSES, "sumexp += exp(out[i, j] - zmax)", "sumexp += exp(out[i, j])"),
            Edit(LOSSES, "lse = zmax + math.log(sumexp)", "lse = math.log(sumexp)"),
        ],
        (f"{KERNELS}::test_logit_losses_are_stable_for_huge_logits", LOSS_KERNEL, *NEW_ORACLES),
    ),
    _m(
        "ce_ignores_row_weights",
        "cross-entropy gives every row the same share 1/sum(w) whatever its weight",
        [
            Edit(
                LOSSES,
                "scale = (w[i] if weighted else 1.0) * inv_norm\n            # log-sum-exp",
                "scale = inv_norm\n            # log-sum-exp",
            )
        ],
        (
            LOSS_KERNEL,
            WEIGHTED_GRADIENT,
            f"{MODEL}::test_integer_sample_weights_equal_repeated_rows",
            *NEW_ORACLES,
        ),
    ),
    _m(
        "regression_ignores_row_weights",
        "the regression losses (and binary cross-entropy) give every row the same share whatever its weight",
        [
            Edit(
                LOSSES,
                "scale = (w[i] if weighted else 1.0) * inv_norm / k",
                "scale = inv_norm / k",
            )
        ],
        (
            LOSS_KERNEL,
            WEIGHTED_GRADIENT,
            SCALE_FREE_WEIGHTS,
            f"{RELIABILITY}::test_weighted_chunked_path_equals_repeated_rows",
            *NEW_ORACLES,
        ),
    ),
    _m(
        "ce_soft_targets_no_ysum",
        "cross-entropy with soft (or unnormalised) targets leaves the ysum factor out of its gradient",
        [Edit(LOSSES, "factor = ysum * scale / sumexp", "factor = scale / sumexp")],
        (
            f"{KERNELS}::test_cross_entropy_soft_targets_match_reference",
            f"{GRADIENTS}::test_gradient_one_hot_and_soft_targets",
            *NEW_ORACLES,
        ),
    ),
    _m(
        "huber_linear_gradient_d",
        "huber's gradient in the linear region is d instead of delta * sign(d)",
        [Edit(LOSSES, "g = HUBER_DELTA * np.sign(d)", "g = HUBER_DELTA * d")],
        (LOSS_KERNEL, EVERY_GRADIENT, *NEW_ORACLES),
    ),
    _m(
        "bce_gradient_sign_flipped",
        "binary cross-entropy's gradient is t - sigmoid(z) instead of sigmoid(z) - t",
        [Edit(LOSSES, "g = sigmoid(z) - t", "g = t - sigmoid(z)")],
        (LOSS_KERNEL, EVERY_GRADIENT, f"{MODEL}::test_binary_cross_entropy_multilabel", *NEW_ORACLES),
    ),
    # ------------------------------------------------------------------ optimizer kernels
    _m(
        "adam_no_bias_correction_m",
        "Adam (and AdamW) without the bias correction of the first moment",
        [Edit(KERNEL_OPTIMIZERS, "step_size = t(lr / (1.0 - hyper[0] ** step))", "step_size = t(lr)")],
        OPTIMIZER_TESTS,
    ),
    _m(
        "adamw_decay_without_lr",
        "AdamW's decoupled decay multiplies by 1 - wd instead of 1 - lr * wd",
        [
            Edit(
                KERNEL_OPTIMIZERS,
                "decay, coupled = t(1.0 - lr * hyper[3]), t(0.0)",
                "decay, coupled = t(1.0 - hyper[3]), t(0.0)",
            )
        ],
        OPTIMIZER_TESTS,
    ),
    _m(
        "nesterov_as_plain_momentum",
        "SGD with nesterov=True steps along the momentum buffer, as plain momentum does",
        [Edit(KERNEL_OPTIMIZERS, "params[i] -= lr_ * (g + momentum * buf)", "params[i] -= lr_ * buf")],
        OPTIMIZER_TESTS,
    ),
    _m(
        "rmsprop_centered_no_mean",
        "centered RMSprop keeps the mean of the gradients but does not subtract its square",
        [Edit(KERNEL_OPTIMIZERS, "                sq = sq - mean * mean\n", "")],
        OPTIMIZER_TESTS,
    ),
    _m(
        "adagrad_lr_decay_uses_step",
        "Adagrad's learning-rate decay uses step instead of step - 1 (the first step is already decayed)",
        [
            Edit(
                KERNEL_OPTIMIZERS,
                "clr = t(lr / (1.0 + (step - 1) * hyper[0]))",
                "clr = t(lr / (1.0 + step * hyper[0]))",
            )
        ],
        OPTIMIZER_TESTS,
    ),
    # ------------------------------------------------------------------ activations
    _m(
        "tanh_derivative_from_z",
        "tanh's derivative computed as 1 - z^2 from the pre-activation instead of 1 - tanh(z)^2",
        [Edit(ACTIVATIONS, "g[i] = g[i] * (1.0 - a[i] * a[i])", "g[i] = g[i] * (1.0 - z[i] * z[i])")],
        ACTIVATION_TESTS,
    ),
    _m(
        "gelu_derivative_missing_pdf_term",
        "gelu's derivative is cdf(z) alone, without the z * pdf(z) term",
        [Edit(ACTIVATIONS, "g[i] = g[i] * (cdf + x * pdf)", "g[i] = g[i] * cdf")],
        ACTIVATION_TESTS,
    ),
    _m(
        "leaky_relu_backward_slope",
        "leaky_relu's backward pass uses slope 0.1 on the negative side while the forward uses 0.01",
        [Edit(ACTIVATIONS, "LEAKY_SLOPE * g[i]", "0.1 * g[i]")],
        ACTIVATION_TESTS,
    ),
    _m(
        "softplus_threshold_too_low",
        "softplus switches to the identity above z = 2 instead of 20 (off by 0.13 at the switch)",
        [Edit(ACTIVATIONS, "SOFTPLUS_THRESHOLD = 20.0", "SOFTPLUS_THRESHOLD = 2.0")],
        ACTIVATION_TESTS,
    ),
    # ------------------------------------------------------------------ network kernels
    _m(
        "chunk_gradients_equal_shares",
        "the chunked path averages chunk gradients with equal shares, not by row (or weight) share",
        [Edit(NETWORK, "share = chunk_weight[c] * inv_norm", "share = 1.0 / n_chunks")],
        (CHUNKED_GRADIENT, CHUNKED_FIT, f"{RELIABILITY}::test_weighted_chunked_path_equals_repeated_rows"),
    ),
    _m(
        "l2_penalises_biases",
        "l2_penalty runs over each layer's weights and its biases (they follow the weights in params)",
        [
            Edit(
                NETWORK,
                "for i in range(start, start + sizes[layer] * sizes[layer + 1]):",
                "for i in range(start, start + (sizes[layer] + 1) * sizes[layer + 1]):",
            )
        ],
        (f"{GRADIENTS}::test_gradient_with_l2_penalty", WEIGHTED_GRADIENT, *NEW_ORACLES),
    ),
    _m(
        "clip_norm_inverted",
        "clip_norm scales gradients whose norm is below the limit (scale > 1) instead of above it",
        [Edit(NETWORK, "if scale < 1.0:", "if scale > 1.0:")],
        (f"{RELIABILITY}::test_clip_norm_limits_each_step", TORCH_ORACLE),
    ),
    _m(
        "gather_rows_ignores_order",
        "the shuffled serial batch gathers features from row start + k instead of order[start + k]",
        [
            Edit(
                NETWORK,
                "        src = order[start + k]\n        for j in range(x.shape[1]):",
                "        src = start + k\n        for j in range(x.shape[1]):",
            )
        ],
        (f"{MODEL}::test_fit_with_shuffle_visits_every_row_once_per_epoch", *NEW_ORACLES),
    ),
    _m(
        "gather_fm_ignores_order",
        "the chunked path's gather_fm reads row start + lo + i even when shuffling",
        [
            Edit(
                FEATURE_MAJOR,
                "src = order[start + lo + i] if shuffle else start + lo + i",
                "src = start + lo + i",
            )
        ],
        (CHUNKED_GRADIENT, CHUNKED_FIT, *NEW_ORACLES),
    ),
    # ------------------------------------------------------------------ dense products
    _m(
        "blas_weight_grad_skips_last_piece",
        "the BLAS weight gradient sums the row pieces but leaves out the last one",
        [Edit(DENSE, "for r in range(step, n, step):", "for r in range(step, n - step, step):")],
        (
            f"{KERNELS}::test_dense_matches_reference",
            f"{KERNELS}::test_weight_gradient_without_scratch_is_one_product",
        ),
    ),
    _m(
        "blas_input_grad_piece_off_by_one",
        "the BLAS input gradient's row pieces stop one row short, leaving a row per piece unwritten",
        [
            Edit(
                DENSE,
                "np.dot(dz[r : r + step], w.T, dx[r : r + step])",
                "np.dot(dz[r : r + step - 1], w.T, dx[r : r + step - 1])",
            )
        ],
        (f"{KERNELS}::test_dense_matches_reference",),
    ),
    _m(
        "optimizer_update_reassociates",
        "the optimizer kernel compiled with reassoc: Adam's moment turns inf - inf = NaN on a huge gradient",
        [
            Edit(
                "fastbp/kernels/optimizers.py",
                "jit_serial_and_parallel(_update, fastmath=FASTMATH_ELEMENTWISE)",
                "jit_serial_and_parallel(_update)",
            )
        ],
        (f"{TORCH_ORACLE}::test_float32_moments_of_a_gradient_whose_square_overflows_equal_torch",),
    ),
    _m(
        "fm_weight_grad_accumulates",
        "dense_backward_params_fm adds to the weight gradient instead of overwriting it",
        [Edit(FEATURE_MAJOR, "gw[k, j] = s", "gw[k, j] += s")],
        (f"{KERNELS}::test_feature_major_dense_matches_reference", CHUNKED_GRADIENT, CHUNKED_FIT),
    ),
]
