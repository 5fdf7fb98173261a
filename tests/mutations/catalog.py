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
# the layer plan: gradchecks of the new layers, chunked vs serial, registries
LAYERS = "tests/test_layers.py"
# PyTorch as the oracle for LayerNorm, BatchNorm1d and residual blocks
TORCH_LAYERS = "tests/test_torch_layers.py"
# model files and checkpoints of the layer plan, hostile headers
PLAN_FILES = "tests/test_plan_files.py"

ACTIVATION_KERNEL = f"{KERNELS}::test_activation_matches_reference"
LOSS_KERNEL = f"{KERNELS}::test_loss_matches_reference"
EVERY_GRADIENT = f"{GRADIENTS}::test_gradient_every_activation_and_loss"
WEIGHTED_GRADIENT = f"{GRADIENTS}::test_gradient_with_sample_weights"
CHUNKED_GRADIENT = f"{PARALLEL}::test_chunked_gradient_equals_one_serial_pass"
CHUNKED_FIT = f"{PARALLEL}::test_fit_on_the_chunked_path_matches_the_serial_path"
RESUME = f"{RELIABILITY}::test_resume_reaches_the_same_weights_bit_for_bit"
RESUME_AFTER_STOP = f"{RELIABILITY}::test_resume_after_early_stop_and_with_an_optimizer_name"
SCALE_FREE_WEIGHTS = f"{MODEL}::test_sample_weights_scale_free_and_reported_loss"
LAYER_GRADCHECK = f"{LAYERS}::test_gradcheck_new_layers"
LAYER_REFERENCE = f"{LAYERS}::test_passes_equal_the_numpy_reference"
LAYER_CHUNKED_FIT = f"{LAYERS}::test_chunked_parallel_path_equals_the_serial_path"
LAYER_CHUNKED_GRADIENT = f"{LAYERS}::test_chunked_batch_norm_gradient_equals_one_serial_pass"
RUNNING_RULE = f"{LAYERS}::test_batch_norm_running_statistics_follow_torch_rule"
TORCH_AUTOGRAD = f"{TORCH_LAYERS}::test_loss_and_gradient_equal_torch_autograd"
TORCH_RUNNING = f"{TORCH_LAYERS}::test_running_statistics_after_fit_equal_batch_norm1d"
BEST_RUNNING_STATS = f"{PLAN_FILES}::test_early_stopping_restores_the_best_running_statistics"

ACTIVATION_TESTS = (ACTIVATION_KERNEL, EVERY_GRADIENT, *NEW_ORACLES)
OPTIMIZER_TESTS = (OPTIMIZERS, *NEW_ORACLES)
DROPOUT_TESTS = (
    f"{GRADIENTS}::test_gradient_through_dropout_with_fixed_mask",
    CHUNKED_GRADIENT,
    CHUNKED_FIT,
    LAYER_CHUNKED_FIT,
    *NEW_ORACLES,
)
SOFTMAX_TESTS = (f"{KERNELS}::test_output_transform", MODEL)  # test_model.py: the predict-softmax tests

NETWORK = "fastbp/kernels/network.py"
LOSSES = "fastbp/kernels/losses.py"
ACTIVATIONS = "fastbp/kernels/activations.py"
DENSE = "fastbp/kernels/dense.py"  # the row-major products and the feature-major loops (dense_*_fm)
DROPOUT = "fastbp/kernels/dropout.py"
LAYER_NORM = "fastbp/kernels/layer_norm.py"
BATCH_NORM = "fastbp/kernels/batch_norm.py"
SGD = "fastbp/kernels/optimizers/sgd.py"
ADAM = "fastbp/kernels/optimizers/adam.py"
RMSPROP = "fastbp/kernels/optimizers/rmsprop.py"
ADAGRAD = "fastbp/kernels/optimizers/adagrad.py"
PLAN = "fastbp/plan.py"
SEQUENTIAL = "fastbp/sequential.py"

# dropout_rows draws one mask for both storage orders; each order scales in its own loop
ROW_MAJOR_DROPOUT = Edit(
    DROPOUT,
    "out[e] = x[e] * keep_scale if uniform(layer_key, first + e) >= rate else 0.0",
    "out[e] = x[e] / rate if uniform(layer_key, first + e) >= rate else 0.0",
)
FEATURE_MAJOR_DROPOUT = Edit(
    DROPOUT, "out[e] = x[e] * keep_scale if keep else 0.0", "out[e] = x[e] / rate if keep else 0.0"
)


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
        "dropout_rows' row-major loop alone scales by 1/rate instead of 1/(1-rate)",
        [ROW_MAJOR_DROPOUT],
        DROPOUT_TESTS,
    ),
    _m(
        "dropout_scale_by_rate_feature_major",
        "dropout_rows' feature-major loop alone scales by 1/rate instead of 1/(1-rate)",
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
                SEQUENTIAL,
                "        if progress.best_params is not None:\n"
                "            self._load_state_vector(progress.best_params)\n"
                "        return history\n",
                "        return history\n",
            )
        ],
        (f"{MODEL}::test_early_stopping_restores_the_best_weights", RESUME_AFTER_STOP, BEST_RUNNING_STATS),
    ),
    _m(
        "evaluate_ignores_row_weights",
        "Sequential.evaluate drops its sample_weight and returns the unweighted mean loss",
        [
            Edit(
                SEQUENTIAL,
                "return self._evaluate(X, y2d, labels, sw, self._buffer(",
                "return self._evaluate(X, y2d, labels, NO_WEIGHTS, self._buffer(",
            )
        ],
        (SCALE_FREE_WEIGHTS, *NEW_ORACLES),
    ),
    _m(
        "history_loss_divides_by_rows",
        "History.loss of a weighted fit divides the weighted loss sum by the row count, not the weight sum",
        [
            Edit(
                "fastbp/training.py",
                "history.loss.append(total / weight if weight > 0 else 0.0)",
                "history.loss.append(total / self.n_rows)",
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
                "    if finite and not all_finite(arr.reshape(-1)):\n",
                "    if False:\n",
            )
        ],
        (
            f"{MODEL}::test_bad_data_is_refused_before_any_work",
            f"{RELIABILITY}::test_bad_input_gets_a_clear_error_before_any_work",
        ),
    ),
    _m(
        "predict_nan_check_removed",
        "predict's compiled call no longer refuses NaN or inf in X (check_features leaves it to predict)",
        [Edit(NETWORK, "    if not all_finite(x.reshape(x.size)):\n        return False\n", "")],
        (f"{MODEL}::test_predict_refuses_nan_and_inf_before_computing",),
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
    # ------------------------------------------------------------------ estimators
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
        "adagrad_hyper_swapped",
        "Adagrad's kernel reads lr_decay where hyper() packs eps and eps where it packs lr_decay",
        [
            Edit(
                ADAGRAD,
                "LR_DECAY, EPS, WEIGHT_DECAY = range(len(HYPER))",
                "EPS, LR_DECAY, WEIGHT_DECAY = range(len(HYPER))",
            )
        ],
        OPTIMIZER_TESTS,
    ),
    _m(
        "adam_no_bias_correction_m",
        "Adam (and AdamW) without the bias correction of the first moment",
        [Edit(ADAM, "step_size = t(lr / (1.0 - hyper[BETA1] ** step))", "step_size = t(lr)")],
        OPTIMIZER_TESTS,
    ),
    _m(
        "adamw_decay_without_lr",
        "AdamW's decoupled decay multiplies by 1 - wd instead of 1 - lr * wd",
        [
            Edit(
                ADAM,
                "decay, coupled = t(1.0 - lr * hyper[WEIGHT_DECAY]), t(0.0)",
                "decay, coupled = t(1.0 - hyper[WEIGHT_DECAY]), t(0.0)",
            )
        ],
        OPTIMIZER_TESTS,
    ),
    _m(
        "nesterov_as_plain_momentum",
        "SGD with nesterov=True steps along the momentum buffer, as plain momentum does",
        [Edit(SGD, "params[i] -= lr_ * (g + momentum * buf)", "params[i] -= lr_ * buf")],
        OPTIMIZER_TESTS,
    ),
    _m(
        "rmsprop_centered_no_mean",
        "centered RMSprop keeps the mean of the gradients but does not subtract its square",
        [Edit(RMSPROP, "            sq = sq - mean * mean\n", "")],
        OPTIMIZER_TESTS,
    ),
    _m(
        "adagrad_lr_decay_uses_step",
        "Adagrad's learning-rate decay uses step instead of step - 1 (the first step is already decayed)",
        [
            Edit(
                ADAGRAD,
                "clr = t(lr / (1.0 + (step - 1) * hyper[LR_DECAY]))",
                "clr = t(lr / (1.0 + step * hyper[LR_DECAY]))",
            )
        ],
        OPTIMIZER_TESTS,
    ),
    # ------------------------------------------------------------------ activations
    _m(
        "tanh_derivative_from_z",
        "tanh's derivative computed as 1 - z^2 from the pre-activation instead of 1 - tanh(z)^2",
        [Edit(ACTIVATIONS, "dx[i] = g[i] * (1.0 - a[i] * a[i])", "dx[i] = g[i] * (1.0 - z[i] * z[i])")],
        ACTIVATION_TESTS,
    ),
    _m(
        "gelu_derivative_missing_pdf_term",
        "gelu's derivative is cdf(z) alone, without the z * pdf(z) term",
        [Edit(ACTIVATIONS, "dx[i] = g[i] * (cdf + x * pdf)", "dx[i] = g[i] * cdf")],
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
        "the chunked path normalises each chunk's loss by the chunk's own row (or weight) count and averages "
        "the chunks with equal shares, not by row (or weight) share",
        [
            Edit(
                NETWORK,
                "chunk_loss[c] = _output_loss(net, data, work, batch, ch, weight)",
                "chunk_loss[c] = _output_loss(net, data, work, batch, ch, batch_weight(data.sw, work.order, "
                "batch.shuffle, batch.start + ch.row0, ch.rows))",
            ),
            Edit(
                NETWORK,
                "grad[p] += work.chunk_grads[c, p]\n",
                "grad[p] += work.chunk_grads[c, p] / n_chunks\n",
            ),
            Edit(NETWORK, "loss += chunk_loss[c]\n", "loss += chunk_loss[c] / n_chunks\n"),
        ],
        (
            CHUNKED_GRADIENT,
            CHUNKED_FIT,
            f"{RELIABILITY}::test_weighted_chunked_path_equals_repeated_rows",
            LAYER_CHUNKED_GRADIENT,
        ),
    ),
    _m(
        "l2_penalises_biases",
        "l2_penalty runs over each dense layer's weights and its biases (they follow the weights in params)",
        [
            Edit(
                NETWORK,
                "for i in range(start, start + net.ops[op, N_IN] * net.ops[op, N_OUT]):",
                "for i in range(start, start + (net.ops[op, N_IN] + 1) * net.ops[op, N_OUT]):",
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
        "the shuffled row-major batch gathers features from row start + k instead of order[start + k]",
        [
            Edit(
                NETWORK,
                "        src = order[start + k] if shuffle else start + k\n",
                "        src = start + k\n",
            )
        ],
        (f"{MODEL}::test_fit_with_shuffle_visits_every_row_once_per_epoch", *NEW_ORACLES),
    ),
    _m(
        "gather_fm_ignores_order",
        "the chunked path's gather_fm reads row start + lo + i even when shuffling",
        [
            Edit(
                NETWORK,
                "src = order[start + lo + i] if shuffle else start + lo + i",
                "src = start + lo + i",
            )
        ],
        (CHUNKED_GRADIENT, CHUNKED_FIT, LAYER_CHUNKED_FIT, *NEW_ORACLES),
    ),
    _m(
        "predict_reads_x_past_a_residual_skip",
        "forward_rows lets the first op read x where it lies even when a residual block's skip reads x too",
        [
            Edit(
                NETWORK,
                "if net.ops[op, IN] == X_BLOCK or net.ops[op, SKIP] == X_BLOCK:",
                "if net.ops[op, IN] == X_BLOCK:",
            )
        ],
        (LAYER_REFERENCE,),
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
                "np.dot(dz[r : r + step], w.T, target[r : r + step])",
                "np.dot(dz[r : r + step - 1], w.T, target[r : r + step - 1])",
            )
        ],
        (f"{KERNELS}::test_dense_matches_reference",),
    ),
    _m(
        "optimizer_update_reassociates",
        "Adam's kernel compiled with reassoc: its moment turns inf - inf = NaN on a huge gradient",
        [
            Edit(
                ADAM,
                "jit_serial_and_parallel(_update, fastmath=FASTMATH_ELEMENTWISE)",
                "jit_serial_and_parallel(_update)",
            )
        ],
        (f"{TORCH_ORACLE}::test_float32_moments_of_a_gradient_whose_square_overflows_equal_torch",),
    ),
    _m(
        "fm_weight_grad_accumulates",
        "dense_backward_params_fm adds to the weight gradient instead of overwriting it",
        [
            Edit(
                DENSE,
                "s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = zero",
                "s0, s1, s2, s3 = gw[k, j], gw[k, j + 1], gw[k, j + 2], gw[k, j + 3]\n"
                "            t0 = t1 = t2 = t3 = zero",
            )
        ],
        (
            f"{KERNELS}::test_feature_major_dense_matches_reference",
            CHUNKED_GRADIENT,
            CHUNKED_FIT,
            LAYER_CHUNKED_FIT,
        ),
    ),
    # ------------------------------------------------------------------ layer norm
    _m(
        "layer_norm_unbiased_variance",
        "LayerNorm normalises with the unbiased variance (divided by width - 1), not torch's biased one",
        [
            Edit(
                LAYER_NORM,
                "rstd[i] = 1.0 / math.sqrt(rstd[i] * inv_w + eps)",
                "rstd[i] = 1.0 / math.sqrt(rstd[i] / (w - 1) + eps)",
            ),
            Edit(
                LAYER_NORM, "s = 1.0 / math.sqrt(v * inv_w + eps)", "s = 1.0 / math.sqrt(v / (w - 1) + eps)"
            ),
        ],
        (LAYER_REFERENCE, TORCH_AUTOGRAD),
    ),
    _m(
        "layer_norm_feature_major_no_eps",
        "LayerNorm's feature-major forward (the parallel chunks) leaves eps out of the variance",
        [
            Edit(
                LAYER_NORM,
                "rstd[i] = 1.0 / math.sqrt(rstd[i] * inv_w + eps)",
                "rstd[i] = 1.0 / math.sqrt(rstd[i] * inv_w)",
            )
        ],
        (LAYER_CHUNKED_GRADIENT, LAYER_CHUNKED_FIT),
    ),
    _m(
        "layer_norm_backward_drops_xh_term",
        "LayerNorm's input gradient leaves out the - xh * mean(dxh * xh) term (both storage orders)",
        [
            Edit(
                LAYER_NORM,
                "dx[j, i] = rstd[i] * (dy[j, i] * gamma[j] - s1[i] * inv_w - xh * s2[i] * inv_w)",
                "dx[j, i] = rstd[i] * (dy[j, i] * gamma[j] - s1[i] * inv_w)",
            ),
            Edit(
                LAYER_NORM,
                "dx[r, j] = s * (dy[r, j] * gamma[j] - a * inv_w - xh * b * inv_w)",
                "dx[r, j] = s * (dy[r, j] * gamma[j] - a * inv_w)",
            ),
        ],
        (LAYER_GRADCHECK, TORCH_AUTOGRAD, LAYER_CHUNKED_FIT),
    ),
    # ------------------------------------------------------------------ batch norm
    _m(
        "batch_norm_running_var_biased",
        "BatchNorm's running variance follows the biased batch variance, not the unbiased one (torch's rule)",
        [Edit(BATCH_NORM, "momentum * var * n / (n - 1)", "momentum * var")],
        (RUNNING_RULE, TORCH_RUNNING),
    ),
    _m(
        "batch_norm_backward_divides_by_chunk_rows",
        "BatchNorm's input gradient divides the batch sums by the chunk's rows (ch.rows), "
        "not the batch's (ch.n)",
        [Edit(BATCH_NORM, "    n = ch.n\n", "    n = ch.rows\n")],
        (LAYER_CHUNKED_GRADIENT, LAYER_CHUNKED_FIT),
    ),
    _m(
        "batch_norm_mean_of_first_chunk",
        "the batch mean of BatchNorm sums only chunk 0's partial sums: the other chunks' rows are left out",
        [
            Edit(
                BATCH_NORM,
                "        for c in range(n_chunks):\n            s += partials[c, a + j]\n",
                "        for c in range(1):\n            s += partials[c, a + j]\n",
            )
        ],
        (LAYER_CHUNKED_GRADIENT, LAYER_CHUNKED_FIT),
    ),
    # ------------------------------------------------------------------ the plan (Python: no recompile)
    _m(
        "residual_delta_overwritten",
        "_mark_accumulating_deltas never records a written delta, so a residual's skip gradient is "
        "overwritten by the block's first op instead of added to",
        [Edit(PLAN, "                    written.add(int(block))\n", "")],
        (LAYER_GRADCHECK, TORCH_AUTOGRAD),
    ),
    _m(
        "dropout_repeat_shares_counter",
        "a second dropout after the same dense layer gets the first one's key counter: the same mask twice",
        [Edit(PLAN, "if layer >= 0 and repeat == 0:", "if layer >= 0:")],
        (LAYERS, TRAINING_REFERENCE),
    ),
    _m(
        "fm_loss_scratch_over_layer_norm",
        "the plan reserves the feature-major loss scratch before the layer norms' scratch, so network.py's "
        "row_width - 2 * n_out finds it on top of the last layer norm's mean and 1/std",
        [
            Edit(
                PLAN,
                "        self._place_layer_norm_scratch()\n        self.row_width += 2 * width  #",
                "        self.row_width += 2 * width\n        self._place_layer_norm_scratch()  #",
            )
        ],
        (LAYER_CHUNKED_GRADIENT, LAYER_CHUNKED_FIT),
    ),
    # ------------------------------------------------------------------ plan files
    _m(
        "file_plan_check_removed",
        "network_from no longer compares the file's stored plan with the network its config describes",
        [
            Edit(
                "fastbp/model.py",
                "    if stored_plan is not None and stored_plan != {",
                "    if False and stored_plan != {",
            )
        ],
        (
            f"{PLAN_FILES}::test_hostile_network_configs_are_refused",
            f"{IO}::test_damaged_or_foreign_files_are_refused",
        ),
    ),
    _m(
        "file_row_width_check_removed",
        "network_from no longer refuses a plan whose work rows are far wider than the file's arrays justify",
        [
            Edit(
                "fastbp/model.py",
                "    if plan.row_width > MAX_ROW_WIDTH_PER_VALUE * values:\n",
                "    if False:\n",
            )
        ],
        (PLAN_FILES, IO),
    ),
    _m(
        "file_drops_running_stats",
        "io.network_arrays leaves BatchNorm's running statistics (buffers) out of model files "
        "and checkpoints",
        [
            Edit(
                "fastbp/io.py",
                '    if net.running_stats.size:\n        arrays["buffers"] = net.running_stats\n',
                "",
            )
        ],
        (f"{PLAN_FILES}::test_round_trip_is_bit_exact_running_statistics_included",),
    ),
    _m(
        "early_stopping_forgets_running_stats",
        "restoring early stopping's best state restores the weights but not BatchNorm's running statistics",
        [Edit(SEQUENTIAL, "        self.running_stats[:] = state[self.n_params :]\n", "")],
        (
            BEST_RUNNING_STATS,
            f"{PLAN_FILES}::test_resume_with_early_stopping_carries_the_best_running_statistics",
        ),
    ),
    _m(
        "loss_grad_updates_running_stats",
        "loss_grad's training pass also updates BatchNorm's running statistics (it must leave them alone)",
        [
            Edit(
                SEQUENTIAL,
                "        mode = table.TRAIN\n",
                "        mode = table.TRAIN | table.UPDATE_RUNNING\n",
            )
        ],
        (RUNNING_RULE, TORCH_AUTOGRAD),
    ),
]
