// Per-element and per-chain amplitude proxes (docs/design.md §2): the CUDA twin of csc/backends/cpu/amplitude.py.
//
// Every prior depends on the codes only through amplitudes, so its prox keeps each code's phase
// and solves a problem on magnitudes r = |y| >= 0. These functions are __host__ __device__ so that
// the tests can compile them for the host and compare them with the Numba reference.
//
// No standard headers are included: nvcc declares sqrt/log1p/fabs for host and device through
// its implicit cuda_runtime.h, and NVRTC (cupy.RawModule) has them built in.
#ifndef CSC_AMPLITUDE_CUH
#define CSC_AMPLITUDE_CUH

// The prior codes come from csc's one registry (csc.priors.kernel_defines), as -D defines.
#if !defined(CSC_SPARSE_L1) || !defined(CSC_SPARSE_CAUCHY) || !defined(CSC_SPARSE_GAUSS) || \
    !defined(CSC_SLOW_NONE) || !defined(CSC_SLOW_L2) || !defined(CSC_SLOW_L1)
#error "compile with the prior codes of csc.priors.kernel_defines() as -D options"
#endif

// argmin_{s>=0} 1/2 (r - s)^2 + t s  =  max(r - t, 0).
__host__ __device__ inline float csc_soft_amplitude(float r, float t)
{
    return r > t ? r - t : 0.0f;
}

// argmin_{s>=0} 1/2 (r - s)^2 + (t/2) s^2  =  r / (1 + t)   (r >= 0, t >= 0).
__host__ __device__ inline float csc_gauss_amplitude(float r, float t)
{
    return r / (1.0f + t);
}

__host__ __device__ inline double csc_cauchy_objective(double s, double r, double t, double sigma2)
{
    return 0.5 * (r - s) * (r - s) + t * log1p(s * s / sigma2);
}

// Root of p(s) = s^3 - r s^2 + c s - r sigma^2 in [lo, hi], where p(lo) <= 0 <= p(hi), by Newton's
// method from s, falling back to bisection whenever a step leaves the bracket.
__host__ __device__ inline double csc_cubic_root(double lo, double hi, double s, double r, double c,
                                                 double rs2)
{
    for (int it = 0; it < 60; ++it) {
        const double f = ((s - r) * s + c) * s - rs2;
        if (f > 0.0)
            hi = s;
        else
            lo = s;
        const double df = (3.0 * s - 2.0 * r) * s + c;
        double s_new = df > 0.0 ? s - f / df : 0.5 * (lo + hi);
        if (!(lo <= s_new && s_new <= hi))  // also catches NaN
            s_new = 0.5 * (lo + hi);
        if (fabs(s_new - s) <= 1e-9 * r)  // Newton's error is then ~1e-18 r
            return s_new;
        s = s_new;
    }
    return s;
}

// argmin_{s>=0} 1/2 (r - s)^2 + t log(1 + s^2/sigma^2), in double.
// Stationary points solve p(s) = s^3 - r s^2 + (sigma^2 + 2t) s - r sigma^2 = 0 with p(0) < 0 < p(r)
// for r > 0. p' = 0 at s± = (r ± sqrt(r^2 - 3c))/3 (if real) splits [0, r] into monotone pieces;
// each root is found by safeguarded Newton in its piece, and with three real roots (two candidate
// minima) the lower objective wins. Ties (equal objectives) go to the larger root, as on the CPU.
__host__ __device__ inline double csc_cauchy_amplitude(double r, double t, double sigma)
{
    if (r <= 0.0)
        return 0.0;
    if (t <= 0.0)
        return r;
    const double sigma2 = sigma * sigma;
    const double c = sigma2 + 2.0 * t;
    const double rs2 = r * sigma2;
    const double disc = r * r - 3.0 * c;
    // one fixed-point step s = r - 2ts/(sigma^2 + s^2) from s = r: close to the root when t << sigma^2
    const double guess = r - 2.0 * t * r / (sigma2 + r * r);
    if (disc <= 0.0) {  // p increasing on [0, r]: one root
        // Newton is monotone from the left where p is concave (left of s = r/3) and from the right
        // where it is convex; started right of a root in the concave part, it leaves the bracket
        // by rounding and bisection stops ~1e-9 r away (wrong by far when sigma << 1e-9 r).
        const double s_infl = r / 3.0;
        if (((s_infl - r) * s_infl + c) * s_infl - rs2 >= 0.0)
            return csc_cubic_root(0.0, s_infl, 0.0, r, c, rs2);
        return csc_cubic_root(s_infl, r, guess > s_infl ? guess : s_infl, r, c, rs2);
    }
    const double sq = sqrt(disc);
    const double s_max = (r - sq) / 3.0;  // local maximum of p
    const double s_min = (r + sq) / 3.0;  // local minimum of p
    const double p_max = ((s_max - r) * s_max + c) * s_max - rs2;
    const double p_min = ((s_min - r) * s_min + c) * s_min - rs2;
    if (p_max < 0.0)  // the only root is right of the local minimum, where p is convex
        return csc_cubic_root(s_min, r, guess > s_min ? guess : s_min, r, c, rs2);
    const double low = csc_cubic_root(0.0, s_max, 0.0, r, c, rs2);  // p concave increasing: start left
    if (p_min > 0.0)
        return low;
    const double high = csc_cubic_root(s_min, r, r, r, c, rs2);
    if (csc_cauchy_objective(high, r, t, sigma2) <= csc_cauchy_objective(low, r, t, sigma2))
        return high;
    return low;
}

// Exact 1-D total-variation denoising (Condat 2013, "A direct algorithm for 1D total variation
// denoising"), the same control flow as tv_denoise in csc/backends/cpu/amplitude.py:
//     out = argmin_x 1/2 sum_i (x_i - y_i)^2 + lam sum_i |x_{i+1} - x_i|,
// element i at y[i * stride] and out[i * stride]. Loads float, computes in double, stores float.
// out may alias y (in place): every read is at an index >= k0 and every write below the new k0.
__host__ __device__ inline void csc_tv_denoise(const float* y, float* out, int n, int stride, float lam_f)
{
    if (n <= 0)
        return;
    const long long st = stride;
    if (!(lam_f > 0.0f)) {
        for (int i = 0; i < n; ++i)
            out[i * st] = y[i * st];
        return;
    }
    const double lam = lam_f;
    const double twolam = 2.0 * lam;
    const double minlam = -lam;
    int k = 0, k0 = 0, kplus = 0, kminus = 0;
    double umin = lam, umax = minlam;
    double vmin = (double)y[0] - lam, vmax = (double)y[0] + lam;
    for (;;) {
        while (k == n - 1) {
            if (umin < 0.0) {
                do {
                    out[k0 * st] = (float)vmin;
                    ++k0;
                } while (k0 <= kminus);
                k = kminus = k0;
                vmin = y[k0 * st];
                umin = lam;
                umax = vmin + umin - vmax;
            } else if (umax > 0.0) {
                do {
                    out[k0 * st] = (float)vmax;
                    ++k0;
                } while (k0 <= kplus);
                k = kplus = k0;
                vmax = y[k0 * st];
                umax = minlam;
                umin = vmax + umax - vmin;
            } else {
                vmin += umin / (k - k0 + 1);
                do {
                    out[k0 * st] = (float)vmin;
                    ++k0;
                } while (k0 <= k);
                return;
            }
        }
        umin += (double)y[(k + 1) * st] - vmin;
        if (umin < minlam) {
            do {
                out[k0 * st] = (float)vmin;
                ++k0;
            } while (k0 <= kminus);
            k = kminus = kplus = k0;
            vmin = y[k0 * st];
            vmax = vmin + twolam;
            umin = lam;
            umax = minlam;
        } else {
            umax += (double)y[(k + 1) * st] - vmax;
            if (umax > lam) {
                do {
                    out[k0 * st] = (float)vmax;
                    ++k0;
                } while (k0 <= kplus);
                k = kminus = kplus = k0;
                vmax = y[k0 * st];
                vmin = vmax - twolam;
                umin = lam;
                umax = minlam;
            } else {
                ++k;
                if (umin >= lam) {
                    kminus = k;
                    vmin += (umin - lam) / (kminus - k0 + 1);
                    umin = lam;
                }
                if (umax <= minlam) {
                    kplus = k;
                    vmax += (umax + lam) / (kplus - k0 + 1);
                    umax = minlam;
                }
            }
        }
    }
}

#endif  // CSC_AMPLITUDE_CUH
