// Fused passes of one FISTA iteration on the GPU: the CUDA twins of csc/backends/cpu/fused.py, plus the
// patch sampler. See kernels/README.md for the layout, the launch shapes and the host emulation.
//
// Each kernel is a __host__ __device__ body taking (block index, block size, thread index), a
// one-line __global__ wrapper, and an extern "C" <name>_host(grid, block, ...) that runs every
// (block, thread) of the launch in sequence. The bodies use no shared memory and no block-level
// synchronisation and each thread writes only its own outputs, so the emulation is exact.
//
// Data is float32; sums over a thread's elements are accumulated in double and written per thread
// (no atomics) so that the host's final reduction is deterministic.
#include "amplitude.cuh"

#define CSC_TINY 1e-30f

// ---------------------------------------------------------------------------------------------
// Shared piece: phase back on amplitude s, write x and the momentum point, return the partials.

struct csc_code_sums {
    double dx2;  // ||x - x_old||^2
    double x2;   // ||x||^2
};

// x = s p/|p| (|p| = r), y = x + beta (x - x_old) at code offsets (off_u, off_u + K).
__host__ __device__ inline void csc_store_code(const float* X_old, float* X_new, float* Y_new,
                                               long long off_u, int K, float s, float r, float pu,
                                               float pv, float beta, csc_code_sums* sums)
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
    sums->dx2 += (double)du * du + (double)dv * dv;
    sums->x2 += (double)xu * xu + (double)xv * xv;
}

// ---------------------------------------------------------------------------------------------
// csc_code_step_pointwise: sparsity l1, cauchy or gauss, slowness none or l2.
//
// One thread per chain c = b*K + k (sequence b, unit k), looping over the frames t:
//   P = Y - tau (G + grad_slow(Y)),  X_new = prox_{tau g}(P),  Y_new = X_new + beta (X_new - X_old),
// partials[c*4 + 0..3] = [sparse energy, slowness energy, ||dx||^2, ||x||^2] of the chain.
// Row n = b*n_frames + t of the (N, 2K) code arrays holds [u_1..u_K, v_1..v_K]: at each t,
// adjacent threads (adjacent k) touch adjacent addresses.

__host__ __device__ inline void csc_code_step_pointwise_body(
    int block_idx, int block_dim, int thread_idx, const float* Y, const float* G,
    const float* X_old, float* X_new, float* Y_new, int n_seq, int n_frames, int K, float tau,
    float beta, float lam, float sigma, float kappa, int sparsity, int slowness, double* partials)
{
    const long long c = (long long)block_idx * block_dim + thread_idx;
    if (c >= (long long)n_seq * K)
        return;
    const int b = (int)(c / K);
    const int k = (int)(c % K);
    const long long K2 = 2LL * K;
    const long long base = (long long)b * n_frames * K2 + k;  // offset of u_k at t = 0
    const bool l2 = slowness == CSC_SLOW_L2;
    const float t_sparse = tau * lam;
    const double sigma2 = (double)sigma * sigma;

    float yu = 0.0f, yv = 0.0f;         // Y at t (l2 only: loaded one frame ahead)
    float a_prev = 0.0f, a_cur = 0.0f;  // |Y| at t-1, t (l2 only)
    float s_prev = 0.0f;
    double sp = 0.0, sl = 0.0;
    csc_code_sums sums = {0.0, 0.0};
    if (l2 && n_frames > 0) {
        yu = Y[base];
        yv = Y[base + K];
        a_cur = sqrtf(yu * yu + yv * yv);
    }
    for (int t = 0; t < n_frames; ++t) {
        const long long off = base + t * K2;
        float pu, pv;
        if (l2) {
            const bool has_next = t + 1 < n_frames;
            float yu_next = 0.0f, yv_next = 0.0f, a_next = 0.0f;
            if (has_next) {
                yu_next = Y[off + K2];
                yv_next = Y[off + K2 + K];
                a_next = sqrtf(yu_next * yu_next + yv_next * yv_next);
            }
            // gradient of (kappa/2) sum (a_t - a_{t-1})^2 w.r.t. y_t: coef * y_t, zero where a_t = 0
            float coef = 0.0f;
            if (a_cur > 0.0f) {
                if (t > 0)
                    coef += a_cur - a_prev;
                if (has_next)
                    coef += a_cur - a_next;
                coef *= kappa / a_cur;
            }
            pu = yu - tau * (G[off] + coef * yu);
            pv = yv - tau * (G[off + K] + coef * yv);
            a_prev = a_cur;
            a_cur = a_next;
            yu = yu_next;
            yv = yv_next;
        } else {
            pu = Y[off] - tau * G[off];
            pv = Y[off + K] - tau * G[off + K];
        }
        const float r = sqrtf(pu * pu + pv * pv);
        float s;
        if (sparsity == CSC_SPARSE_L1)
            s = csc_soft_amplitude(r, t_sparse);
        else if (sparsity == CSC_SPARSE_GAUSS)
            s = csc_gauss_amplitude(r, t_sparse);
        else
            s = (float)csc_cauchy_amplitude(r, t_sparse, sigma);
        csc_store_code(X_old, X_new, Y_new, off, K, s, r, pu, pv, beta, &sums);
        if (sparsity == CSC_SPARSE_L1)
            sp += s;
        else if (sparsity == CSC_SPARSE_GAUSS)
            sp += 0.5 * (double)s * s;
        else
            sp += log1p((double)s * s / sigma2);
        if (l2) {
            if (t > 0) {
                const double ds = (double)s - s_prev;
                sl += ds * ds;
            }
            s_prev = s;
        }
    }
    double* out = partials + 4 * c;
    out[0] = (double)lam * sp;
    out[1] = l2 ? 0.5 * (double)kappa * sl : 0.0;
    out[2] = sums.dx2;
    out[3] = sums.x2;
}

extern "C" __global__ void csc_code_step_pointwise(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float sigma, float kappa, int sparsity,
    int slowness, double* partials)
{
    csc_code_step_pointwise_body(blockIdx.x, blockDim.x, threadIdx.x, Y, G, X_old, X_new, Y_new, n_seq, n_frames, K, tau, beta, lam, sigma, kappa, sparsity, slowness, partials);
}

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_code_step_pointwise_host(
    int grid, int block, const float* Y, const float* G, const float* X_old, float* X_new,
    float* Y_new, int n_seq, int n_frames, int K, float tau, float beta, float lam, float sigma,
    float kappa, int sparsity, int slowness, double* partials)
{
    for (int bi = 0; bi < grid; ++bi)
        for (int ti = 0; ti < block; ++ti)
            csc_code_step_pointwise_body(bi, block, ti, Y, G, X_old, X_new, Y_new, n_seq,
                                         n_frames, K, tau, beta, lam, sigma, kappa, sparsity,
                                         slowness, partials);
}
#endif


// ---------------------------------------------------------------------------------------------
// csc_code_step_chain: l1 sparsity + l1 (TV) slowness. The prox couples the frames of a chain:
// s = soft(TVdenoise(r; tau kappa), tau lam) (Friedman et al. 2007), so each thread first writes
// its chain's magnitudes r_t = |Y - tau G| to scratch_r, denoises them into scratch_s (both
// (N, K), stride K along the chain: still coalesced over k), then re-reads Y and G to rebuild the
// phases. partials[c*4 + 0..3] = [lam sum s, kappa sum |s_t - s_{t-1}|, ||dx||^2, ||x||^2].

__host__ __device__ inline void csc_code_step_chain_body(
    int block_idx, int block_dim, int thread_idx, const float* Y, const float* G,
    const float* X_old, float* X_new, float* Y_new, float* scratch_r, float* scratch_s, int n_seq,
    int n_frames, int K, float tau, float beta, float lam, float kappa, double* partials)
{
    const long long c = (long long)block_idx * block_dim + thread_idx;
    if (c >= (long long)n_seq * K)
        return;
    const int b = (int)(c / K);
    const int k = (int)(c % K);
    const long long K2 = 2LL * K;
    const long long base = (long long)b * n_frames * K2 + k;
    float* r_chain = scratch_r + (long long)b * n_frames * K + k;
    float* s_chain = scratch_s + (long long)b * n_frames * K + k;

    for (int t = 0; t < n_frames; ++t) {
        const long long off = base + t * K2;
        const float pu = Y[off] - tau * G[off];
        const float pv = Y[off + K] - tau * G[off + K];
        r_chain[(long long)t * K] = sqrtf(pu * pu + pv * pv);
    }
    csc_tv_denoise(r_chain, s_chain, n_frames, K, tau * kappa);

    const float t_sparse = tau * lam;
    double sp = 0.0, sl = 0.0;
    float s_prev = 0.0f;
    csc_code_sums sums = {0.0, 0.0};
    for (int t = 0; t < n_frames; ++t) {
        const long long off = base + t * K2;
        const float pu = Y[off] - tau * G[off];
        const float pv = Y[off + K] - tau * G[off + K];
        const float r = r_chain[(long long)t * K];
        const float s = csc_soft_amplitude(s_chain[(long long)t * K], t_sparse);
        csc_store_code(X_old, X_new, Y_new, off, K, s, r, pu, pv, beta, &sums);
        sp += s;
        if (t > 0)
            sl += fabs((double)s - s_prev);
        s_prev = s;
    }
    double* out = partials + 4 * c;
    out[0] = (double)lam * sp;
    out[1] = (double)kappa * sl;
    out[2] = sums.dx2;
    out[3] = sums.x2;
}

extern "C" __global__ void csc_code_step_chain(
    const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new,
    float* scratch_r, float* scratch_s, int n_seq, int n_frames, int K, float tau, float beta,
    float lam, float kappa, double* partials)
{
    csc_code_step_chain_body(blockIdx.x, blockDim.x, threadIdx.x, Y, G, X_old, X_new, Y_new, scratch_r, scratch_s, n_seq, n_frames, K, tau, beta, lam, kappa, partials);
}

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_code_step_chain_host(
    int grid, int block, const float* Y, const float* G, const float* X_old, float* X_new,
    float* Y_new, float* scratch_r, float* scratch_s, int n_seq, int n_frames, int K, float tau,
    float beta, float lam, float kappa, double* partials)
{
    for (int bi = 0; bi < grid; ++bi)
        for (int ti = 0; ti < block; ++ti)
            csc_code_step_chain_body(bi, block, ti, Y, G, X_old, X_new, Y_new, scratch_r,
                                     scratch_s, n_seq, n_frames, K, tau, beta, lam, kappa,
                                     partials);
}
#endif


// ---------------------------------------------------------------------------------------------
// csc_recon_step: one thread per (row tile, column m), i = tile*M + m, over rows
// [tile*rows_per_tile, min(N, (tile+1)*rows_per_tile)) of the (N, M) arrays:
//   E_y[n, m] = w[m] (R_new + beta (R_new - R_old) - X)[n, m]
//   col_energy[i] = 1/2 w[m] sum_n (X - R_new)[n, m]^2
// Adjacent threads are adjacent m: coalesced. The total energy is the sum of col_energy.

__host__ __device__ inline void csc_recon_step_body(int block_idx, int block_dim, int thread_idx,
                                                    const float* X, const float* R_new,
                                                    const float* R_old, const float* w, float beta,
                                                    float* E_y, double* col_energy, int N, int M,
                                                    int rows_per_tile)
{
    const long long i = (long long)block_idx * block_dim + thread_idx;
    if (M <= 0 || rows_per_tile <= 0)
        return;
    const long long n_tiles = ((long long)N + rows_per_tile - 1) / rows_per_tile;
    if (i >= n_tiles * M)
        return;
    const long long tile = i / M;
    const int m = (int)(i % M);
    const long long n0 = tile * rows_per_tile;
    const long long n1 = n0 + rows_per_tile < N ? n0 + rows_per_tile : N;
    const float wm = w[m];
    double acc = 0.0;
    for (long long n = n0; n < n1; ++n) {
        const long long off = n * M + m;
        const float x = X[off];
        const float rn = R_new[off];
        const float e = x - rn;
        acc += (double)e * e;
        E_y[off] = wm * (rn + beta * (rn - R_old[off]) - x);
    }
    col_energy[i] = 0.5 * (double)wm * acc;
}

extern "C" __global__ void csc_recon_step(const float* X, const float* R_new, const float* R_old,
                                          const float* w, float beta, float* E_y,
                                          double* col_energy, int N, int M, int rows_per_tile)
{
    csc_recon_step_body(blockIdx.x, blockDim.x, threadIdx.x, X, R_new, R_old, w, beta, E_y, col_energy, N, M, rows_per_tile);
}

#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_recon_step_host(int grid, int block, const float* X, const float* R_new,
                                    const float* R_old, const float* w, float beta, float* E_y,
                                    double* col_energy, int N, int M, int rows_per_tile)
{
    for (int bi = 0; bi < grid; ++bi)
        for (int ti = 0; ti < block; ++ti)
            csc_recon_step_body(bi, block, ti, X, R_new, R_old, w, beta, E_y, col_energy, N, M,
                                rows_per_tile);
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

extern "C" __global__ void csc_sample_patches(const float* frames, const long long* clip_offset,
                                              const int* clip_h, const int* clip_w,
                                              const int* which, const int* t0, const int* y0,
                                              const int* x0, float* out, int n_sequences,
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
#endif


#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_cauchy_amplitude_array_host(const double* r, const double* t,
                                                const double* sigma, double* out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = csc_cauchy_amplitude(r[i], t[i], sigma[i]);
}
#endif


#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_gauss_amplitude_array_host(const float* r, const float* t, float* out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = csc_gauss_amplitude(r[i], t[i]);
}
#endif


#ifndef __CUDACC_RTC__  // host emulation: nvcc only (NVRTC refuses host code)
extern "C" void csc_tv_denoise_host(const float* y, float* out, int n, int stride, float lam)
{
    csc_tv_denoise(y, out, n, stride, lam);
}
#endif

