"""Chunks of groups and threads: the same numbers whatever the chunking and thread count."""

import numpy as np
import pytest
import statsmodels.api as sm

import statsmodels_glmm.api as smg
from statsmodels_glmm.likelihood import parallel, quadrature
from statsmodels_glmm.likelihood.chunks import chunk_plan
from statsmodels_glmm.likelihood.laplace import laplace_loglike, solve_modes
from statsmodels_glmm.likelihood.quadrature import agq_loglike

FORMULA = "y ~ time * group + stress + (1 + time | id)"


def _model(kind="binary", n=300, seed=4, formula=FORMULA):
    family = sm.families.Binomial() if kind == "binary" else sm.families.Poisson()
    df = smg.simulate_longitudinal(kind, n_persons=n, seed=seed)
    return smg.mixedglm(formula, df, family=family)


def _args(m):
    x = m._start_internal()
    x[m.k_fe:m.k_fe + m.k_re] = np.where(m.cov_struct.is_diag, 0.8, -0.2)
    beta, theta, extra = m._split(x)
    return m.design, m.response, m.cov_struct, beta, theta, extra


@pytest.fixture
def small_chunks(monkeypatch):
    """About 150 rows per chunk, so that a few hundred persons make ~10 chunks."""
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 150)


def test_chunk_bounds_cover_whole_groups():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 9, 500)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes.sum())
    b = parallel.chunk_bounds(starts, n, rows=100)
    assert b[0] == 0 and b[-1] == 500 and np.all(np.diff(b) > 0)
    rows = np.add.reduceat(sizes, b[:-1])
    assert len(b) - 1 == -(-n // 100)
    assert rows.max() <= 100 + sizes.max()  # chunks end at the boundary nearest their share
    # a huge group is never split
    b2 = parallel.chunk_bounds(np.array([0, 5, 1005]), 1010, rows=100)
    assert b2.tolist() == [0, 1, 2, 3]


def test_plan_views_share_memory(small_chunks):
    m = _model()
    plan = chunk_plan(m.design)
    assert len(plan.chunks) > 5
    assert sum(c.nobs for c in plan.chunks) == m.nobs
    for c in plan.chunks:
        assert np.shares_memory(c.X, m.design.X)
        np.testing.assert_array_equal(c.gid + c.g0, m.design.gid[c.r0:c.r1])


@pytest.mark.parametrize("kind", ["binary", "poisson"])
def test_laplace_threads_equal_serial(kind, small_chunks):
    m = _model(kind)
    a = _args(m)
    l1, g1, s1 = laplace_loglike(*a, n_jobs=1)
    l3, g3, s3 = laplace_loglike(*a, n_jobs=3)
    assert l1 == l3
    np.testing.assert_array_equal(g1, g3)
    np.testing.assert_array_equal(s1.u, s3.u)
    np.testing.assert_array_equal(s1.Hinv, s3.Hinv)


@pytest.mark.parametrize("nagq", [3, 5])
def test_quadrature_threads_equal_serial(nagq, small_chunks):
    m = _model("binary")
    a = _args(m)
    l1, g1, _ = agq_loglike(*a, nagq, n_jobs=1)
    l2, g2, _ = agq_loglike(*a, nagq, n_jobs=2)
    assert l1 == l2
    np.testing.assert_array_equal(g1, g2)


def test_chunked_equals_one_chunk(monkeypatch):
    """Chunks converge separately: the answers agree with one chunk to 1e-10."""
    m = _model("poisson", formula="y ~ time + stress + (1 + time | id)")
    a = _args(m)
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 10 ** 9)
    one_l, one_g, one_s = laplace_loglike(*a)
    one_q, one_qg, _ = agq_loglike(*a, 4)
    assert len(chunk_plan(m.design).chunks) == 1
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 97)
    monkeypatch.setattr(quadrature, "_BLOCK", 500)  # several node blocks per chunk too
    l, g, s = laplace_loglike(*a, n_jobs=2)
    q, qg, _ = agq_loglike(*a, 4, n_jobs=2)
    assert len(chunk_plan(m.design).chunks) > 10
    assert abs(l - one_l) < 1e-10 * abs(one_l)
    np.testing.assert_allclose(g, one_g, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(s.u, one_s.u, atol=1e-10)
    assert abs(q - one_q) < 1e-10 * abs(one_q)
    np.testing.assert_allclose(qg, one_qg, rtol=1e-10, atol=1e-9)


def test_chunked_gradient_matches_finite_differences(small_chunks):
    m = _model("binary", n=120)
    d, fam, cov, beta, theta, extra = _args(m)
    x = np.concatenate([beta, theta])
    p = len(beta)
    for fn in (lambda b, t, **k: laplace_loglike(d, fam, cov, b, t, extra, **k),
               lambda b, t, **k: agq_loglike(d, fam, cov, b, t, extra, 3, **k)):
        _, g, _ = fn(beta, theta, n_jobs=2)
        fd = np.empty_like(x)
        for j in range(len(x)):
            e = np.zeros_like(x)
            e[j] = 1e-5
            xp, xm = x + e, x - e
            fd[j] = (fn(xp[:p], xp[p:], gradient=False)[0]
                     - fn(xm[:p], xm[p:], gradient=False)[0]) / 2e-5
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


def test_solve_modes_state_rows(small_chunks):
    """Row-wise values of the state are those of the modes (computed on demand)."""
    m = _model("poisson")
    d, fam, cov, beta, theta, extra = _args(m)
    L = cov.chol(theta)
    st = solve_modes(d, fam, beta, L, extra, n_jobs=2)
    eta = d.X @ beta + d.offset + np.einsum("nq,nq->n", d.Z @ L, st.u[d.gid])
    np.testing.assert_allclose(st.eta, eta, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(st.d[1], fam.derivs(d.y, eta, extra)[1], rtol=1e-12, atol=1e-12)
    # the modes are stationary: Z_i' d1 = u_i in every group
    grad = np.stack([np.bincount(d.gid, st.M[:, j] * st.d[1]) for j in range(2)], 1) - st.u
    assert np.max(np.abs(grad)) < 1e-8


def test_fit_with_threads_equals_serial(small_chunks, monkeypatch):
    m = _model("binary", n=200)
    monkeypatch.setenv(parallel.ENV_VAR, "1")
    r1 = m.fit()
    monkeypatch.setenv(parallel.ENV_VAR, "2")
    r2 = _model("binary", n=200).fit()
    np.testing.assert_allclose(np.asarray(r1.params), np.asarray(r2.params), rtol=0, atol=1e-10)
    assert abs(r1.llf - r2.llf) < 1e-10


def test_num_threads_rules(monkeypatch):
    monkeypatch.delenv(parallel.ENV_VAR, raising=False)
    assert parallel.num_threads(work=10) == 1
    assert parallel.num_threads(work=10 ** 9) == (parallel.os.cpu_count() or 1)
    assert parallel.num_threads(2, work=10) == 2
    assert parallel.num_threads(-1) == (parallel.os.cpu_count() or 1)
    monkeypatch.setenv(parallel.ENV_VAR, "3")
    assert parallel.num_threads(work=10) == 3
    assert parallel.num_threads(1) == 1  # the argument wins over the environment
    monkeypatch.setenv(parallel.ENV_VAR, "many")
    with pytest.raises(ValueError, match=parallel.ENV_VAR):
        parallel.num_threads()
    with pytest.raises(ValueError, match="n_jobs"):
        parallel.num_threads(0)
    with pytest.raises(ValueError, match="n_jobs"):
        parallel.num_threads(1.5)


def test_using_threads_context(monkeypatch):
    monkeypatch.setenv(parallel.ENV_VAR, "3")
    with parallel.using_threads(2):
        assert parallel.num_threads() == 2
        assert parallel.num_threads(1) == 1
        with parallel.using_threads(None):
            assert parallel.num_threads() == 3
    assert parallel.num_threads() == 3
    with pytest.raises(ValueError, match="n_jobs"):
        with parallel.using_threads(0):
            pass


def test_blas_single_thread_keeps_results():
    a = np.arange(12.0).reshape(4, 3)
    with parallel.blas_single_thread():
        inside = a.T @ a
    np.testing.assert_array_equal(inside, a.T @ a)


def test_map_chunks_order_and_errors():
    assert parallel.map_chunks(lambda k: k * 10, 7, n_jobs=3) == [0, 10, 20, 30, 40, 50, 60]

    def fail(k):
        if k == 4:
            raise ZeroDivisionError("chunk 4")
        return k

    with pytest.raises(ZeroDivisionError, match="chunk 4"):
        parallel.map_chunks(fail, 8, n_jobs=2)


def _blas_threads(threadpoolctl):
    """The BLAS threads threadpoolctl sees now (the test is skipped when it sees none)."""
    info = [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]
    if not info:
        pytest.skip("no BLAS library visible to threadpoolctl")
    return max(info)


def test_blas_runs_on_one_thread_while_chunks_run_on_several():
    """Threads for the chunks and BLAS's own threads on top would oversubscribe the
    processors: while the chunks run on several threads, BLAS runs on one, and the
    caller's BLAS setting is back afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return _blas_threads(threadpoolctl)

    before = blas_threads()
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads()
        seen = parallel.map_chunks(lambda i: blas_threads(), 4, n_jobs=2)
        assert blas_threads() == outside
    assert seen == [1, 1, 1, 1]
    assert blas_threads() == before
    # on one thread BLAS keeps the caller's setting
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        assert parallel.map_chunks(lambda i: blas_threads(), 2, n_jobs=1) == [blas_threads()] * 2


def test_blas_limits_nest_and_restore():
    """A limit asked for again inside the same limit is free and changes nothing; a
    different inner limit holds inside and the outer one is back after it."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return _blas_threads(threadpoolctl)

    before = blas_threads()
    calls = []
    ctl = parallel._controller()
    real = ctl.limit

    def counted(*args, **kwargs):
        calls.append(kwargs.get("limits"))
        return real(*args, **kwargs)

    ctl.limit = counted
    try:
        with parallel.blas_single_thread():
            assert blas_threads() == 1
            with parallel.blas_single_thread():  # the same limit: nothing to do
                assert blas_threads() == 1
            with parallel.blas_threads(2):
                assert blas_threads() == 2
                with parallel.blas_single_thread():
                    assert blas_threads() == 1
                assert blas_threads() == 2
            assert blas_threads() == 1
    finally:
        ctl.limit = real
    assert calls == [1, 2, 1]
    assert blas_threads() == before


def test_a_lone_evaluation_runs_blas_on_one_thread(monkeypatch):
    """The model's likelihood evaluations hold BLAS to one thread, also outside a fit
    (``model.loglike``, ``score``, statsmodels' tools)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import statsmodels.api as sm

    import statsmodels_glmm.api as smg
    from statsmodels_glmm.model.glmm import MixedGLM

    df = smg.simulate_longitudinal(n_persons=30, seed=3)
    df["site"] = df["id"] % 4
    model = smg.mixedglm("y ~ time + (1 | id) + (1 | site)", df,
                         family=sm.families.Binomial())
    params = np.asarray(model.fit(check_laplace=False).params)
    seen = []
    evaluate = MixedGLM._sparse_loglike

    def spy(self, *args, **kwargs):
        seen.append(_blas_threads(threadpoolctl))
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(MixedGLM, "_sparse_loglike", spy)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        model.loglike(params)
        model.score(params)
    assert len(seen) >= 2 and set(seen) == {1}
