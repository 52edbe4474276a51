// Fused passes of one FISTA iteration on the GPU: the CUDA twins of csc/backends/cpu/fused.py, plus the
// patch sampler. See kernels/README.md for the layout, the launch shapes and the host emulation.
//
// Each kernel is written as __host__ __device__ phases separated by block barriers: a phase is
// what every thread of a block does between two __syncthreads(). The __global__ kernel runs the
// phases with barriers between them; its extern "C" <name>_host(grid, block, ...) twin runs, block
// by block, each phase for every thread in turn. No phase reads what another thread of the same
// phase writes, and no kernel uses atomics or warp intrinsics, so the host run computes exactly
// what the device computes (up to FMA contraction and flush-to-zero, see kernels/README.md).
//
// Data is float32. Sums are accumulated in double, and each block adds its threads' sums by a
// fixed tree (csc_reduce_level) and writes them to its own slot: every total is deterministic.
//
// Block sizes come from csc.backends.cuda.source.BLOCKS as -D options: CSC_POINTWISE_BLOCK,
// CSC_POINTWISE_UNITS, CSC_CHAIN_BLOCK, CSC_RECON_BLOCK, CSC_SUMS_BLOCK, CSC_SAMPLE_BLOCK (powers of
// two).
#include "amplitude.cuh"

#if !defined(CSC_POINTWISE_BLOCK) || !defined(CSC_POINTWISE_UNITS) || !defined(CSC_CHAIN_BLOCK) || \
    !defined(CSC_RECON_BLOCK) || !defined(CSC_SUMS_BLOCK) || !defined(CSC_SAMPLE_BLOCK)
#error "compile with the block sizes of csc.backends.cuda.source.define_options() as -D options"
#endif

#define CSC_TINY 1e-30f

// ---------------------------------------------------------------------------------------------
// Block reductions. sums holds `width` rows of n (a power of two) doubles, thread i's values in
// column i. One level adds column i + half into column i for i < half; after the levels
// half = n/2, n/4, ..., 1 column 0 holds the totals, always added in the same order.

__host__ __device__ inline void csc_reduce_level(double* sums, int width, int n, int tid, int half)
{
    if (tid < half)
        for (int j = 0; j < width; ++j)
            sums[j * n + tid] += sums[j * n + tid + half];
}

#ifdef __CUDACC__
__device__ inline void csc_block_reduce(double* sums, int width)
{
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        __syncthreads();
        csc_reduce_level(sums, width, blockDim.x, threadIdx.x, half);
    }
    __syncthreads();
}
#endif

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
inline void csc_host_block_reduce(double* sums, int width, int n)
{
    for (int half = n / 2; half > 0; half /= 2)
        for (int tid = 0; tid < n; ++tid)
            csc_reduce_level(sums, width, n, tid, half);
}
#endif

// ---------------------------------------------------------------------------------------------
// Shared piece: x = s p/|p| (|p| = r) and y = x + beta (x - x_old) at code offsets (off_u,
// off_u + K); adds ||x - x_old||^2 and ||x||^2 to d[0], d[1].

__host__ __device__ inline void csc_store_code(const float* X_old, float* X_new, float* Y_new,
                                               long long off_u, int K, float s, float r, float pu,
                                               float pv, float beta, double* d)
{
    const float scale = s / fmaxf(r, CSC_TINY);
    const float xu = scale * pu;
    const float xv = scale * pv;
    const float du = xu - X_old[off_u];
    const float dv = xv - X_old[off_u + K];
    X_new[off_u] = xu;
    X_new[off_u + K] = xv;
    Y_new[off_u] = xu + beta * du;
    Y_new[off_u + K] = xv + beta * dv;
    d[0] += (double)du * du + (double)dv * dv;
    d[1] += (double)xu * xu + (double)xv * xv;
}

// ---------------------------------------------------------------------------------------------
// csc_code_step_<sparsity>_<slowness>: the pointwise priors (sparsity l1, cauchy or gauss;
// slowness none or l2), one template per combination, one thread per code (sequence b, frame t,
// unit k). A block covers a tile of CSC_POINTWISE_UNITS units x (block / units) frames of one
// sequence; adjacent threads are adjacent units, so accesses are coalesced. Per code:
//   P = Y - tau (G + grad_slow(Y)),  X_new = prox_{tau g}(P),  Y_new = X_new + beta (X_new - X_old).
// The l2 gradient at t reads |Y| at t - 1 and t + 1. The slowness energy pairs s_t with s_{t-1}:
// from shared memory inside the tile; the first frame of a tile recomputes s_{t-1}.
// partials[blk*4 + 0..3] = the block's [sparse energy, slowness energy, ||dx||^2, ||x||^2].

struct csc_tile {
    int b, t, k;  // this thread's sequence, frame, unit
    int tu;       // frame index within the tile
    bool valid;
};

__host__ __device__ inline csc_tile csc_pointwise_tile(int block_idx, int block_dim, int tid,
                                                       int n_seq, int n_frames, int K)
{
    const int units = CSC_POINTWISE_UNITS;
    const int frames = block_dim / units;
    const int k_tiles = (K + units - 1) / units;
    const int t_tiles = (n_frames + frames - 1) / frames;
    csc_tile c;
    const int kt = block_idx % k_tiles;
    const int rest = block_idx / k_tiles;
    c.b = rest / t_tiles;
    c.tu = tid / units;
    c.t = (rest % t_tiles) * frames + c.tu;
    c.k = kt * units + tid % units;
    c.valid = c.b < n_seq && c.t < n_frames && c.k < K && tid < frames * units;
    return c;
}

// The gradient-step point (pu, pv) of the code at frame t of chain `base` (offset of u_k at
// t = 0) and its prox amplitude; r = |p|.
template <int SPARSITY, int SLOWNESS>
__host__ __device__ inline float csc_pointwise_prox(const float* Y, const float* G, long long base,
                                                    int t, int n_frames, int K, float tau,
                                                    float t_sparse, float sigma, float kappa,
                                                    float* pu, float* pv, float* r)
{
    const long long K2 = 2LL * K;
    const long long off = base + t * K2;
    const float yu = Y[off];
    const float yv = Y[off + K];
    if (SLOWNESS == CSC_SLOW_L2) {
        // gradient of (kappa/2) sum (a_t - a_{t-1})^2 w.r.t. y_t: coef * y_t, zero where a_t = 0
        const float a = sqrtf(yu * yu + yv * yv);
        float coef = 0.0f;
        if (a > 0.0f) {
            if (t > 0) {
                const float u = Y[off - K2], v = Y[off - K2 + K];
                coef += a - sqrtf(u * u + v * v);
            }
            if (t + 1 < n_frames) {
                const float u = Y[off + K2], v = Y[off + K2 + K];
                coef += a - sqrtf(u * u + v * v);
            }
            coef *= kappa / a;
        }
        *pu = yu - tau * (G[off] + coef * yu);
        *pv = yv - tau * (G[off + K] + coef * yv);
    } else {
        *pu = yu - tau * G[off];
        *pv = yv - tau * G[off + K];
    }
    *r = sqrtf(*pu * *pu + *pv * *pv);
    if (SPARSITY == CSC_SPARSE_L1)
        return csc_soft_amplitude(*r, t_sparse);
    if (SPARSITY == CSC_SPARSE_GAUSS)
        return csc_gauss_amplitude(*r, t_sparse);
    return (float)csc_cauchy_amplitude(*r, t_sparse, sigma);
}

// Phase 1: prox, store, this thread's sums into sums (4 rows of block_dim) and s into s_tile.
template <int SPARSITY, int SLOWNESS>
__host__ __device__ inline void csc_pointwise_phase1(
    int block_idx, int block_dim, int tid, const float* Y, const float* G, const float* X_old,
    float* X_new, float* Y_new, int n_seq, int n_frames, int K, float tau, float beta, float lam,
    float sigma, float kappa, float* s_tile, double* sums)
{
    double d[4] = {0.0, 0.0, 0.0, 0.0};
    float s = 0.0f;
    const csc_tile c = csc_pointwise_tile(block_idx, block_dim, tid, n_seq, n_frames, K);
    if (c.valid) {
        const long long base = (long long)c.b * n_frames * 2LL * K + c.k;
        const float t_sparse = tau * lam;
        float pu, pv, r;
        s = csc_pointwise_prox<SPARSITY, SLOWNESS>(Y, G, base, c.t, n_frames, K, tau, t_sparse,
                                                   sigma, kappa, &pu, &pv, &r);
        csc_store_code(X_old, X_new, Y_new, base + c.t * 2LL * K, K, s, r, pu, pv, beta, d + 2);
        if (SPARSITY == CSC_SPARSE_L1)
            d[0] = s;
        else if (SPARSITY == CSC_SPARSE_GAUSS)
            d[0] = 0.5 * (double)s * s;
        else
            d[0] = log1p((double)s * s / ((double)sigma * sigma));
        if (SLOWNESS == CSC_SLOW_L2 && c.tu == 0 && c.t > 0) {  // s_{t-1} lies in another tile
            const float s_prev = csc_pointwise_prox<SPARSITY, SLOWNESS>(
                Y, G, base, c.t - 1, n_frames, K, tau, t_sparse, sigma, kappa, &pu, &pv, &r);
            const double ds = (double)s - s_prev;
            d[1] = ds * ds;
        }
    }
    s_tile[tid] = s;
    for (int j = 0; j < 4; ++j)
        sums[j * block_dim + tid] = d[j];
}

// Phase 2 (l2 slowness): the slowness term of s_t and s_{t-1} inside the tile.
__host__ __device__ inline void csc_pointwise_phase2(int block_idx, int block_dim, int tid,
                                                     int n_seq, int n_frames, int K,
                                                     const float* s_tile, double* sums)
{
    const csc_tile c = csc_pointwise_tile(block_idx, block_dim, tid, n_seq, n_frames, K);
    if (c.valid && c.tu > 0) {
        const double ds = (double)s_tile[tid] - s_tile[tid - CSC_POINTWISE_UNITS];
        sums[block_dim + tid] = ds * ds;
    }
}

__host__ __device__ inline void csc_pointwise_write(int block_idx, const double* sums, int block_dim,
                                                    float lam, float kappa, bool l2,
                                                    double* partials)
{
    double* out = partials + 4LL * block_idx;
    out[0] = (double)lam * sums[0];
    out[1] = l2 ? 0.5 * (double)kappa * sums[block_dim] : 0.0;
    out[2] = sums[2 * block_dim];
    out[3] = sums[3 * block_dim];
}

#ifdef __CUDACC__
template <int SPARSITY, int SLOWNESS>
__device__ inline void csc_pointwise_kernel(const float* Y, const float* G, const float* X_old,
                                            float* X_new, float* Y_new, int n_seq, int n_frames,
                                            int K, float tau, float beta, float lam, float sigma,
                                            float kappa, double* partials)
{
    __shared__ float s_tile[CSC_POINTWISE_BLOCK];
    __shared__ double sums[4 * CSC_POINTWISE_BLOCK];
    csc_pointwise_phase1<SPARSITY, SLOWNESS>(blockIdx.x, blockDim.x, threadIdx.x, Y, G, X_old,
                                             X_new, Y_new, n_seq, n_frames, K, tau, beta, lam,
                                             sigma, kappa, s_tile, sums);
    if (SLOWNESS == CSC_SLOW_L2) {
        __syncthreads();
        csc_pointwise_phase2(blockIdx.x, blockDim.x, threadIdx.x, n_seq, n_frames, K, s_tile,
                             sums);
    }
    csc_block_reduce(sums, 4);
    if (threadIdx.x == 0)
        csc_pointwise_write(blockIdx.x, sums, blockDim.x, lam, kappa, SLOWNESS == CSC_SLOW_L2,
                            partials);
}
#endif

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
template <int SPARSITY, int SLOWNESS>
void csc_pointwise_host(int grid, int block, const float* Y, const float* G, const float* X_old,
                        float* X_new, float* Y_new, int n_seq, int n_frames, int K, float tau,
                        float beta, float lam, float sigma, float kappa, double* partials)
{
    float* s_tile = new float[block];
    double* sums = new double[4 * block];
    for (int bi = 0; bi < grid; ++bi) {
        for (int ti = 0; ti < block; ++ti)
            csc_pointwise_phase1<SPARSITY, SLOWNESS>(bi, block, ti, Y, G, X_old, X_new, Y_new,
                                                     n_seq, n_frames, K, tau, beta, lam, sigma,
                                                     kappa, s_tile, sums);
        if (SLOWNESS == CSC_SLOW_L2)
            for (int ti = 0; ti < block; ++ti)
                csc_pointwise_phase2(bi, block, ti, n_seq, n_frames, K, s_tile, sums);
        csc_host_block_reduce(sums, 4, block);
        csc_pointwise_write(bi, sums, block, lam, kappa, SLOWNESS == CSC_SLOW_L2, partials);
    }
    delete[] s_tile;
    delete[] sums;
}
#endif

// The six specialisations: each an extern "C" kernel and its host twin with the same parameters.

extern "C" __global__ void __launch_bounds__(CSC_POINTWISE_BLOCK) csc_code_step_l1_none(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_kernel<CSC_SPARSE_L1, CSC_SLOW_NONE>(Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}

#ifndef __CUDACC_RTC__
extern "C" void csc_code_step_l1_none_host(int grid, int block,
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_host<CSC_SPARSE_L1, CSC_SLOW_NONE>(grid, block, Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}
#endif

extern "C" __global__ void __launch_bounds__(CSC_POINTWISE_BLOCK) csc_code_step_l1_l2(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_kernel<CSC_SPARSE_L1, CSC_SLOW_L2>(Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}

#ifndef __CUDACC_RTC__
extern "C" void csc_code_step_l1_l2_host(int grid, int block,
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_host<CSC_SPARSE_L1, CSC_SLOW_L2>(grid, block, Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}
#endif

extern "C" __global__ void __launch_bounds__(CSC_POINTWISE_BLOCK) csc_code_step_cauchy_none(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_kernel<CSC_SPARSE_CAUCHY, CSC_SLOW_NONE>(Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}

#ifndef __CUDACC_RTC__
extern "C" void csc_code_step_cauchy_none_host(int grid, int block,
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_host<CSC_SPARSE_CAUCHY, CSC_SLOW_NONE>(grid, block, Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}
#endif

extern "C" __global__ void __launch_bounds__(CSC_POINTWISE_BLOCK) csc_code_step_cauchy_l2(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_kernel<CSC_SPARSE_CAUCHY, CSC_SLOW_L2>(Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}

#ifndef __CUDACC_RTC__
extern "C" void csc_code_step_cauchy_l2_host(int grid, int block,
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_host<CSC_SPARSE_CAUCHY, CSC_SLOW_L2>(grid, block, Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}
#endif

extern "C" __global__ void __launch_bounds__(CSC_POINTWISE_BLOCK) csc_code_step_gauss_none(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_kernel<CSC_SPARSE_GAUSS, CSC_SLOW_NONE>(Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}

#ifndef __CUDACC_RTC__
extern "C" void csc_code_step_gauss_none_host(int grid, int block,
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_host<CSC_SPARSE_GAUSS, CSC_SLOW_NONE>(grid, block, Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}
#endif

extern "C" __global__ void __launch_bounds__(CSC_POINTWISE_BLOCK) csc_code_step_gauss_l2(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_kernel<CSC_SPARSE_GAUSS, CSC_SLOW_L2>(Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}

#ifndef __CUDACC_RTC__
extern "C" void csc_code_step_gauss_l2_host(int grid, int block,
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa,
    double* partials)
{
    csc_pointwise_host<CSC_SPARSE_GAUSS, CSC_SLOW_L2>(grid, block, Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, partials);
}
#endif


// ---------------------------------------------------------------------------------------------
// csc_code_step_l1_tv: l1 sparsity + l1 (TV) slowness. The prox couples the frames of a chain:
// s = soft(TVdenoise(r; tau kappa), tau lam) (Friedman et al. 2007), so one thread handles one
// chain c = b*K + k. It stages the chain's gradient-step points pu, pv and magnitudes r (denoised
// in place into s) in `stage`: 3 rows of n_frames values, element (j, t) at st[(j*T + t)*stride].
// In shared memory (dynamic, 3*T*block floats) st = smem + tid with stride = block; when that
// does not fit, in the global array `stage_global` (3*T*n_seq*K floats) with st = stage_global + c
// and stride = n_seq*K. Either way adjacent threads touch adjacent addresses, and Y and G are read
// once. partials[blk*4 + 0..3] = the block's [lam sum s, kappa sum |s_t - s_{t-1}|, ||dx||^2,
// ||x||^2].

__host__ __device__ inline void csc_chain_phase1(
    int block_idx, int block_dim, int tid, const float* Y, const float* G, const float* X_old,
    float* X_new, float* Y_new, float* smem, float* stage_global, int n_seq, int n_frames, int K,
    float tau, float beta, float lam, float kappa, int stage_in_global, double* sums)
{
    double d[4] = {0.0, 0.0, 0.0, 0.0};
    const long long c = (long long)block_idx * block_dim + tid;
    const long long n_chains = (long long)n_seq * K;
    if (c < n_chains) {
        const int b = (int)(c / K);
        const int k = (int)(c % K);
        const long long K2 = 2LL * K;
        const long long base = (long long)b * n_frames * K2 + k;
        const long long stride = stage_in_global ? n_chains : block_dim;
        float* st = stage_in_global ? stage_global + c : smem + tid;
        float* pu_t = st;
        float* pv_t = st + (long long)n_frames * stride;
        float* s_t = st + 2LL * n_frames * stride;
        for (int t = 0; t < n_frames; ++t) {
            const long long off = base + t * K2;
            const float pu = Y[off] - tau * G[off];
            const float pv = Y[off + K] - tau * G[off + K];
            pu_t[t * stride] = pu;
            pv_t[t * stride] = pv;
            s_t[t * stride] = sqrtf(pu * pu + pv * pv);
        }
        csc_tv_denoise(s_t, s_t, n_frames, (int)stride, tau * kappa);
        const float t_sparse = tau * lam;
        float s_prev = 0.0f;
        for (int t = 0; t < n_frames; ++t) {
            const float pu = pu_t[t * stride];
            const float pv = pv_t[t * stride];
            const float r = sqrtf(pu * pu + pv * pv);
            const float s = csc_soft_amplitude(s_t[t * stride], t_sparse);
            csc_store_code(X_old, X_new, Y_new, base + t * K2, K, s, r, pu, pv, beta, d + 2);
            d[0] += s;
            if (t > 0)
                d[1] += fabs((double)s - s_prev);
            s_prev = s;
        }
    }
    for (int j = 0; j < 4; ++j)
        sums[j * block_dim + tid] = d[j];
}

__host__ __device__ inline void csc_chain_write(int block_idx, const double* sums, int block_dim,
                                                float lam, float kappa, double* partials)
{
    double* out = partials + 4LL * block_idx;
    out[0] = (double)lam * sums[0];
    out[1] = (double)kappa * sums[block_dim];
    out[2] = sums[2 * block_dim];
    out[3] = sums[3 * block_dim];
}

extern "C" __global__ void __launch_bounds__(CSC_CHAIN_BLOCK) csc_code_step_l1_tv(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new,
    float* stage_global, int n_seq, int n_frames, int K, float tau, float beta, float lam,
    float kappa, int stage_in_global, double* partials)
{
    extern __shared__ float smem[];
    __shared__ double sums[4 * CSC_CHAIN_BLOCK];
    csc_chain_phase1(blockIdx.x, blockDim.x, threadIdx.x, Y, G, X_old, X_new, Y_new, smem,
                     stage_global, n_seq, n_frames, K, tau, beta, lam, kappa, stage_in_global,
                     sums);
    csc_block_reduce(sums, 4);
    if (threadIdx.x == 0)
        csc_chain_write(blockIdx.x, sums, blockDim.x, lam, kappa, partials);
}

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_code_step_l1_tv_host(int grid, int block, const float* Y, const float* G,
                                         const float* X_old, float* X_new, float* Y_new,
                                         float* stage_global, int n_seq, int n_frames, int K,
                                         float tau, float beta, float lam, float kappa,
                                         int stage_in_global, double* partials)
{
    float* smem = stage_in_global ? nullptr : new float[3LL * n_frames * block];
    double* sums = new double[4 * block];
    for (int bi = 0; bi < grid; ++bi) {
        for (int ti = 0; ti < block; ++ti)
            csc_chain_phase1(bi, block, ti, Y, G, X_old, X_new, Y_new, smem, stage_global, n_seq,
                             n_frames, K, tau, beta, lam, kappa, stage_in_global, sums);
        csc_host_block_reduce(sums, 4, block);
        csc_chain_write(bi, sums, block, lam, kappa, partials);
    }
    delete[] smem;
    delete[] sums;
}
#endif


// ---------------------------------------------------------------------------------------------
// csc_recon_step: one thread per (row tile, column m), i = tile*M + m, over rows
// [tile*rows_per_tile, min(N, (tile+1)*rows_per_tile)) of the (N, M) arrays:
//   E_y[n, m] = w[m] (R_new + beta (R_new - R_old) - X)[n, m]
// and partials[blk] = the block's sum of 1/2 w[m] (X - R_new)[n, m]^2. Adjacent threads are
// adjacent m: coalesced. The weighted reconstruction energy is the sum of partials.

__host__ __device__ inline void csc_recon_phase1(int block_idx, int block_dim, int tid,
                                                 const float* X, const float* R_new,
                                                 const float* R_old, const float* w, float beta,
                                                 float* E_y, int N, int M, int rows_per_tile,
                                                 double* sums)
{
    const long long i = (long long)block_idx * block_dim + tid;
    double acc = 0.0;
    float wm = 0.0f;
    if (M > 0 && rows_per_tile > 0 && i < ((long long)N + rows_per_tile - 1) / rows_per_tile * M) {
        const long long tile = i / M;
        const int m = (int)(i % M);
        const long long n0 = tile * rows_per_tile;
        const long long n1 = n0 + rows_per_tile < N ? n0 + rows_per_tile : N;
        wm = w[m];
        for (long long n = n0; n < n1; ++n) {
            const long long off = n * M + m;
            const float x = X[off];
            const float rn = R_new[off];
            const float e = x - rn;
            acc += (double)e * e;
            E_y[off] = wm * (rn + beta * (rn - R_old[off]) - x);
        }
    }
    sums[tid] = 0.5 * (double)wm * acc;
}

extern "C" __global__ void __launch_bounds__(CSC_RECON_BLOCK) csc_recon_step(
    const float* X, const float* R_new, const float* R_old, const float* w, float beta,
    float* E_y, int N, int M, int rows_per_tile, double* partials)
{
    __shared__ double sums[CSC_RECON_BLOCK];
    csc_recon_phase1(blockIdx.x, blockDim.x, threadIdx.x, X, R_new, R_old, w, beta, E_y, N, M,
                     rows_per_tile, sums);
    csc_block_reduce(sums, 1);
    if (threadIdx.x == 0)
        partials[blockIdx.x] = sums[0];
}

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_recon_step_host(int grid, int block, const float* X, const float* R_new,
                                    const float* R_old, const float* w, float beta, float* E_y,
                                    int N, int M, int rows_per_tile, double* partials)
{
    double* sums = new double[block];
    for (int bi = 0; bi < grid; ++bi) {
        for (int ti = 0; ti < block; ++ti)
            csc_recon_phase1(bi, block, ti, X, R_new, R_old, w, beta, E_y, N, M, rows_per_tile,
                             sums);
        csc_host_block_reduce(sums, 1, block);
        partials[bi] = sums[0];
    }
    delete[] sums;
}
#endif


// ---------------------------------------------------------------------------------------------
// csc_iteration_sums: one block. From the code step's per-block partials (n_code, 4) and the
// reconstruction's per-block partials (n_recon,), out[0..2] = [reconstruction + sparse + slowness
// energy, ||dx||^2, ||x||^2]. Thread i adds rows i, i + block, ... in order, then the tree adds the
// threads. Replaces the per-iteration CuPy reductions with one launch that writes where the host
// reads.

__host__ __device__ inline void csc_sums_phase1(int block_dim, int tid, const double* code_partials,
                                                int n_code, const double* recon_partials,
                                                int n_recon, double* sums)
{
    double d[4] = {0.0, 0.0, 0.0, 0.0};
    for (int i = tid; i < n_code; i += block_dim) {
        d[0] += code_partials[4LL * i] + code_partials[4LL * i + 1];
        d[1] += code_partials[4LL * i + 2];
        d[2] += code_partials[4LL * i + 3];
    }
    for (int i = tid; i < n_recon; i += block_dim)
        d[3] += recon_partials[i];
    for (int j = 0; j < 4; ++j)
        sums[j * block_dim + tid] = d[j];
}

__host__ __device__ inline void csc_sums_write(const double* sums, int block_dim, double* out)
{
    out[0] = sums[3 * block_dim] + sums[0];
    out[1] = sums[block_dim];
    out[2] = sums[2 * block_dim];
}

extern "C" __global__ void __launch_bounds__(CSC_SUMS_BLOCK) csc_iteration_sums(
    const double* code_partials, int n_code, const double* recon_partials, int n_recon,
    double* out)
{
    __shared__ double sums[4 * CSC_SUMS_BLOCK];
    if (blockIdx.x != 0)
        return;
    csc_sums_phase1(blockDim.x, threadIdx.x, code_partials, n_code, recon_partials, n_recon,
                    sums);
    csc_block_reduce(sums, 4);
    if (threadIdx.x == 0)
        csc_sums_write(sums, blockDim.x, out);
}

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_iteration_sums_host(int grid, int block, const double* code_partials,
                                        int n_code, const double* recon_partials, int n_recon,
                                        double* out)
{
    if (grid < 1)
        return;
    double* sums = new double[4 * block];
    for (int ti = 0; ti < block; ++ti)
        csc_sums_phase1(block, ti, code_partials, n_code, recon_partials, n_recon, sums);
    csc_host_block_reduce(sums, 4, block);
    csc_sums_write(sums, block, out);
    delete[] sums;
}
#endif


// ---------------------------------------------------------------------------------------------
// csc_sample_patches: one thread per element (b, t, i, j) of out (n_sequences, n_frames, patch,
// patch), gathering from clip c = which[b] (clips concatenated flat in `frames`, clip c of shape
// (T_c, H_c, W_c) starting at clip_offset[c]):
//   out[b, t, i, j] = frames[clip_offset[c] + ((t0[b] + t) H_c + y0[b] + i) W_c + x0[b] + j]
// The caller guarantees the windows lie inside their clips. Writes are coalesced; reads are
// coalesced along j within each patch row.

__host__ __device__ inline void csc_sample_patches_body(
    int block_idx, int block_dim, int thread_idx, const float* frames,
    const long long* clip_offset, const int* clip_h, const int* clip_w, const int* which,
    const int* t0, const int* y0, const int* x0, float* out, int n_sequences, int n_frames,
    int patch)
{
    const long long idx = (long long)block_idx * block_dim + thread_idx;
    if (idx >= (long long)n_sequences * n_frames * patch * patch)
        return;
    long long rest = idx;
    const int j = (int)(rest % patch);
    rest /= patch;
    const int i = (int)(rest % patch);
    rest /= patch;
    const int t = (int)(rest % n_frames);
    const int b = (int)(rest / n_frames);
    const int c = which[b];
    const long long H = clip_h[c];
    const long long W = clip_w[c];
    const long long src =
        clip_offset[c] + ((long long)(t0[b] + t) * H + (y0[b] + i)) * W + (x0[b] + j);
    out[idx] = frames[src];
}

extern "C" __global__ void __launch_bounds__(CSC_SAMPLE_BLOCK) csc_sample_patches(
    const float* frames, const long long* clip_offset, const int* clip_h, const int* clip_w,
    const int* which, const int* t0, const int* y0, const int* x0, float* out, int n_sequences,
    int n_frames, int patch)
{
    csc_sample_patches_body(blockIdx.x, blockDim.x, threadIdx.x, frames, clip_offset, clip_h, clip_w, which, t0, y0, x0, out, n_sequences, n_frames, patch);
}

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_sample_patches_host(int grid, int block, const float* frames,
                                        const long long* clip_offset, const int* clip_h,
                                        const int* clip_w, const int* which, const int* t0,
                                        const int* y0, const int* x0, float* out,
                                        int n_sequences, int n_frames, int patch)
{
    for (int bi = 0; bi < grid; ++bi)
        for (int ti = 0; ti < block; ++ti)
            csc_sample_patches_body(bi, block, ti, frames, clip_offset, clip_h, clip_w, which,
                                    t0, y0, x0, out, n_sequences, n_frames, patch);
}
#endif


// ---------------------------------------------------------------------------------------------
// Host entry points for testing the per-element math directly (not used on the GPU).

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_soft_amplitude_array_host(const float* r, const float* t, float* out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = csc_soft_amplitude(r[i], t[i]);
}

extern "C" void csc_cauchy_amplitude_array_host(const double* r, const double* t,
                                                const double* sigma, double* out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = csc_cauchy_amplitude(r[i], t[i], sigma[i]);
}

extern "C" void csc_gauss_amplitude_array_host(const float* r, const float* t, float* out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = csc_gauss_amplitude(r[i], t[i]);
}

extern "C" void csc_tv_denoise_host(const float* y, float* out, int n, int stride, float lam)
{
    csc_tv_denoise(y, out, n, stride, lam);
}
#endif
