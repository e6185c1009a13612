// im2col / col2im for fastconv: MindSpore "aot" Custom operators for the CPU.
//
// Layouts (row-major):
//   image x   (N, C, H, W)
//   columns   (C, K, K, N, OH, OW): for tap (ky, kx) of channel c, the input pixel under it at
//             every output position, OH = (H + 2p - K) / s + 1 (floor), likewise OW; taps that
//             fall into the zero padding read 0.
// Im2Col(x, geom) -> columns; Col2Im(columns, geom[, like]) -> x, the adjoint (overlap-add): the
// sum over taps of each column back onto the pixel it came from. geom is int32 [s, p]; K, N, C
// and the spatial sizes come from the shapes. Col2Im's output shape is chosen by the caller (an
// input's floor division loses up to s-1 rows, so it cannot be derived from the columns).
//
// Interface: MindSpore's aot CPU calling convention; params holds the inputs, then the output.
#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace {

// Runs body(begin, end) over [0, count) split across the CPUs this process may use (MindSpore
// calls a Custom kernel on one thread). Small jobs stay on the calling thread, where starting
// threads would cost more than it saves; DCGAN-sized layers, whose short rows make loop overhead
// rather than bandwidth the limit, gain little either way (benchmarks/RESULTS.md).
template <typename Body>
void ParallelFor(int64_t count, int64_t work, Body body) {
  static const int64_t cpus = [] {
    cpu_set_t set;
    const int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
    return static_cast<int64_t>(std::max(1, std::min(n, 8)));
  }();
  const int64_t threads = std::min(cpus, std::min(count, work / (1 << 17) + 1));
  if (threads <= 1) {
    body(int64_t{0}, count);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t chunk = (count + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t begin = t * chunk, end = std::min(count, begin + chunk);
    if (begin < end) pool.emplace_back(body, begin, end);
  }
  body(int64_t{0}, std::min(count, chunk));
  for (auto &th : pool) th.join();
}

// [lo, hi): the output indices o < count with 0 <= o*s + off < n.
inline void ValidRange(int64_t off, int64_t s, int64_t n, int64_t count, int64_t *lo, int64_t *hi) {
  const int64_t first = off >= 0 ? 0 : (-off + s - 1) / s;
  const int64_t end = n - off <= 0 ? 0 : (n - off + s - 1) / s;
  *lo = std::min(first, count);
  *hi = std::max(*lo, std::min(end, count));
}

struct Geometry {
  int64_t N, C, H, W, K, OH, OW, s, p;
};

Geometry Read(const int64_t *image, const int64_t *columns, const int32_t *geom) {
  return {image[0],   image[1],   image[2],   image[3], columns[1],
          columns[4], columns[5], geom[0],    geom[1]};
}

}  // namespace

extern "C" int Im2Col(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                      void *stream, void *extra) {
  if (nparam != 3 || ndims[0] != 4 || ndims[2] != 6) return 1;
  const float *x = static_cast<const float *>(params[0]);
  float *cols = static_cast<float *>(params[2]);
  const Geometry g = Read(shapes[0], shapes[2], static_cast<const int32_t *>(params[1]));
  const int64_t work = g.C * g.K * g.K * g.N * g.OH * g.OW;
  ParallelFor(g.C, work, [&](int64_t c_begin, int64_t c_end) {
    for (int64_t c = c_begin; c < c_end; ++c) {
      for (int64_t ky = 0; ky < g.K; ++ky) {
        for (int64_t kx = 0; kx < g.K; ++kx) {
          int64_t lo, hi;
          ValidRange(kx - g.p, g.s, g.W, g.OW, &lo, &hi);
          for (int64_t n = 0; n < g.N; ++n) {
            const float *plane = x + (n * g.C + c) * g.H * g.W;
            float *dst = cols + (((c * g.K + ky) * g.K + kx) * g.N + n) * g.OH * g.OW;
            for (int64_t oy = 0; oy < g.OH; ++oy, dst += g.OW) {
              const int64_t iy = oy * g.s + ky - g.p;
              if (iy < 0 || iy >= g.H) {
                std::memset(dst, 0, g.OW * sizeof(float));
                continue;
              }
              const float *src = plane + iy * g.W + kx - g.p;
              std::fill(dst, dst + lo, 0.f);
              if (g.s == 1) {
                std::memcpy(dst + lo, src + lo, (hi - lo) * sizeof(float));
              } else if (g.s == 2) {  // the common case: a constant stride the compiler vectorises
                for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = src[2 * ox];
              } else {
                for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = src[ox * g.s];
              }
              std::fill(dst + hi, dst + g.OW, 0.f);
            }
          }
        }
      }
    }
  });
  return 0;
}

extern "C" int Col2Im(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                      void *stream, void *extra) {
  // inputs: columns, geom and optionally a tensor whose shape the output takes (unused here)
  if (nparam < 3 || ndims[0] != 6 || ndims[nparam - 1] != 4) return 1;
  const float *cols = static_cast<const float *>(params[0]);
  float *x = static_cast<float *>(params[nparam - 1]);
  const Geometry g = Read(shapes[nparam - 1], shapes[0], static_cast<const int32_t *>(params[1]));
  const int64_t work = g.C * g.K * g.K * g.N * g.OH * g.OW;
  // One (n, c) plane at a time, so the plane stays in cache while its K*K taps are added.
  ParallelFor(g.N * g.C, work, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / g.C, c = nc % g.C;
      float *plane = x + nc * g.H * g.W;
      std::memset(plane, 0, g.H * g.W * sizeof(float));
      for (int64_t ky = 0; ky < g.K; ++ky) {
        for (int64_t kx = 0; kx < g.K; ++kx) {
          int64_t lo, hi;
          ValidRange(kx - g.p, g.s, g.W, g.OW, &lo, &hi);
          const float *src = cols + (((c * g.K + ky) * g.K + kx) * g.N + n) * g.OH * g.OW;
          for (int64_t oy = 0; oy < g.OH; ++oy, src += g.OW) {
            const int64_t iy = oy * g.s + ky - g.p;
            if (iy < 0 || iy >= g.H) continue;
            float *row = plane + iy * g.W + kx - g.p;
            if (g.s == 1) {
              for (int64_t ox = lo; ox < hi; ++ox) row[ox] += src[ox];
            } else if (g.s == 2) {
              for (int64_t ox = lo; ox < hi; ++ox) row[2 * ox] += src[ox];
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) row[ox * g.s] += src[ox];
            }
          }
        }
      }
    }
  });
  return 0;
}
