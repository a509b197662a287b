// Winograd F(2x2, 3x3) convolution, forward and backward. See conv_winograd.h for the maths.
//
// Layouts (per chunk of images, T tiles: tile t = (image in chunk) * th * tw + ti * tw + tj):
//   U  (16, Cout, Cin)  transformed weights, xi = 4 i + j (i: row transform, j: column transform)
//   V  (16, Cin, T)     transformed input tiles
//   M  (16, Cout, T)    products M_xi = U_xi V_xi (forward), or the transformed output gradient
//
// Every transform works on whole rows of tiles: the 4 input rows of a tile row are split into
// even and odd columns (ev[k] = column 2k - 1, od[k] = column 2k), so the column transforms of
// all tiles of the row are plain elementwise loops over k that GCC vectorises.
#include "tensor/conv_winograd.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/linalg.h"

namespace tinydiff {

namespace {

constexpr int64_t kXi = 16;  // positions of the 4x4 transformed tile

struct Wino {
  int64_t B, Cin, Cout, H, W, th, tw, ipc;  // tiles th x tw per image; ipc images per chunk
  int64_t tiles() const { return th * tw; }
  int64_t chunks() const { return (B + ipc - 1) / ipc; }
  int64_t max_tiles() const { return ipc * tiles(); }
  // Floats from one position xi's matrix to the next in V (Cin rows) and M (Cout rows): one cache
  // line more than the matrix, so that the 16 matrices a transform writes at once do not all map
  // to the same cache sets (their sizes are often powers of two).
  int64_t vplane() const { return Cin * max_tiles() + 16; }
  int64_t mplane() const { return Cout * max_tiles() + 16; }
};

// Chunks of about 1024 tiles, and at least 8 chunks when the batch allows: fixed by the shape.
Wino make_wino(const Shape& x, int64_t cout) {
  Wino d{x[0], x[1], cout, x[2], x[3], (x[2] + 1) / 2, (x[3] + 1) / 2, 1};
  d.ipc = std::clamp<int64_t>(1024 / std::max<int64_t>(d.tiles(), 1), 1, std::max<int64_t>(1, d.B / 8));
  return d;
}

// U[xi][o][c] = (G w[o, c] G^T)[xi]; w: (Cout, Cin, 3, 3).
void weight_transform(const float* w, float* U, int64_t cout, int64_t cin) {
  const int64_t oc = cout * cin;
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t c = 0; c < cin; ++c) {
      const float* g = w + (o * cin + c) * 9;
      float t[4][3];  // G w
      for (int k = 0; k < 3; ++k) {
        t[0][k] = g[k];
        t[1][k] = 0.5f * (g[k] + g[3 + k] + g[6 + k]);
        t[2][k] = 0.5f * (g[k] - g[3 + k] + g[6 + k]);
        t[3][k] = g[6 + k];
      }
      for (int i = 0; i < 4; ++i) {  // (G w) G^T
        float* u = U + i * 4 * oc + o * cin + c;
        u[0] = t[i][0];
        u[oc] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[2 * oc] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[3 * oc] = t[i][2];
      }
    }
}

// Elementwise loops over n floats with restrict-qualified pointers, so that GCC vectorises each
// one (the transforms below are compositions of these).
void v_add(float* __restrict o, const float* __restrict a, const float* __restrict b, int64_t n) {
  for (int64_t k = 0; k < n; ++k) o[k] = a[k] + b[k];
}
void v_sub(float* __restrict o, const float* __restrict a, const float* __restrict b, int64_t n) {
  for (int64_t k = 0; k < n; ++k) o[k] = a[k] - b[k];
}
void v_neg(float* __restrict o, const float* __restrict a, int64_t n) {
  for (int64_t k = 0; k < n; ++k) o[k] = -a[k];
}
void v_copy(float* __restrict o, const float* __restrict a, int64_t n) {
  for (int64_t k = 0; k < n; ++k) o[k] = a[k];
}
// o = a + b + c, o = a - b - c (left to right), o = -a + b + c, o = a - b + c
void v_add3(float* __restrict o, const float* __restrict a, const float* __restrict b, const float* __restrict c,
            int64_t n) {
  for (int64_t k = 0; k < n; ++k) o[k] = a[k] + b[k] + c[k];
}
void v_sub3(float* __restrict o, const float* __restrict a, const float* __restrict b, const float* __restrict c,
            int64_t n) {
  for (int64_t k = 0; k < n; ++k) o[k] = a[k] - b[k] - c[k];
}
void v_nadd3(float* __restrict o, const float* __restrict a, const float* __restrict b, const float* __restrict c,
             int64_t n) {
  for (int64_t k = 0; k < n; ++k) o[k] = -a[k] + b[k] + c[k];
}
void v_subadd(float* __restrict o, const float* __restrict a, const float* __restrict b, const float* __restrict c,
              int64_t n) {
  for (int64_t k = 0; k < n; ++k) o[k] = a[k] - b[k] + c[k];
}

// Even/odd split of row r of one channel (zero outside the image): ev[k] = x[r, 2k - 1],
// od[k] = x[r, 2k], k = 0..tw.
void split_row(const float* xc, int64_t r, const Wino& d, float* __restrict ev, float* __restrict od) {
  const int64_t n = d.tw + 1;
  if (r < 0 || r >= d.H) {
    std::fill(ev, ev + n, 0.0f);
    std::fill(od, od + n, 0.0f);
    return;
  }
  const float* __restrict row = xc + r * d.W;
  const int64_t pairs = d.W / 2;  // columns 2k - 1 and 2k both inside for k = 1..pairs - 1 (and more)
  ev[0] = 0.0f;
  od[0] = row[0];
  for (int64_t k = 1; k < pairs; ++k) {
    ev[k] = row[2 * k - 1];
    od[k] = row[2 * k];
  }
  for (int64_t k = std::max<int64_t>(pairs, 1); k < n; ++k) {
    const int64_t ce = 2 * k - 1, co = 2 * k;
    ev[k] = ce < d.W ? row[ce] : 0.0f;
    od[k] = co < d.W ? row[co] : 0.0f;
  }
}

// V[., c, t0 + tj] for image x (Cin, H, W), its first tile t0 in the chunk. scr: 16 (tw + 1) floats.
void input_transform(const float* x, const Wino& d, int64_t t0, float* V, int64_t T, int64_t plane, float* scr) {
  const int64_t n = d.tw + 1, tw = d.tw;
  float* r[4][2];   // input rows 2 ti - 1 + i, even and odd columns
  float* sr[4][2];  // B^T applied over the rows
  for (int i = 0; i < 4; ++i)
    for (int e = 0; e < 2; ++e) {
      r[i][e] = scr + (2 * i + e) * n;
      sr[i][e] = scr + (8 + 2 * i + e) * n;
    }
  for (int64_t c = 0; c < d.Cin; ++c) {
    const float* xc = x + c * d.H * d.W;
    for (int64_t ti = 0; ti < d.th; ++ti) {
      for (int i = 0; i < 4; ++i) split_row(xc, 2 * ti - 1 + i, d, r[i][0], r[i][1]);
      for (int e = 0; e < 2; ++e) {  // rows: s0 = d0 - d2, s1 = d1 + d2, s2 = d2 - d1, s3 = d1 - d3
        v_sub(sr[0][e], r[0][e], r[2][e], n);
        v_add(sr[1][e], r[1][e], r[2][e], n);
        v_sub(sr[2][e], r[2][e], r[1][e], n);
        v_sub(sr[3][e], r[1][e], r[3][e], n);
      }
      // columns of every tile of the row: v0 = e[k] - e[k+1], v1 = o[k] + e[k+1], v2 = e[k+1] - o[k], v3 = o[k] -
      // o[k+1]
      const int64_t tl = t0 + ti * tw;
      for (int i = 0; i < 4; ++i) {
        const float* ev = sr[i][0];
        const float* od = sr[i][1];
        float* v = V + 4 * i * plane + c * T + tl;
        const int64_t step = plane;  // from position xi to xi + 1
        v_sub(v, ev, ev + 1, tw);
        v_add(v + step, od, ev + 1, tw);
        v_sub(v + 2 * step, ev + 1, od, tw);
        v_sub(v + 3 * step, od, od + 1, tw);
      }
    }
  }
}

// y (Cout, H, W) of one image = A^T M A (+ bias) from M[., o, t0 + tj]. scr: 16 tw floats.
void output_transform(const float* M, int64_t T, int64_t plane, const Wino& d, int64_t t0, const float* bias, float* y,
                      float* scr) {
  const int64_t tw = d.tw;
  float* p[4];  // A^T over the rows: p = m0 + m1 + m2 (output row 2 ti), q = m1 - m2 - m3 (row 2 ti + 1)
  float* q[4];
  for (int j = 0; j < 4; ++j) {
    p[j] = scr + j * tw;
    q[j] = scr + (4 + j) * tw;
  }
  float* a[2] = {scr + 8 * tw, scr + 10 * tw};  // output columns 2 tj (a) and 2 tj + 1 (b), per output row
  float* b[2] = {scr + 9 * tw, scr + 11 * tw};
  for (int64_t o = 0; o < d.Cout; ++o) {
    const float bo = bias ? bias[o] : 0.0f;
    for (int64_t ti = 0; ti < d.th; ++ti) {
      const float* m = M + o * T + t0 + ti * tw;
      const int64_t step = plane;  // from position xi to xi + 1
      for (int j = 0; j < 4; ++j) {
        v_add3(p[j], m + j * step, m + (4 + j) * step, m + (8 + j) * step, tw);
        v_sub3(q[j], m + (4 + j) * step, m + (8 + j) * step, m + (12 + j) * step, tw);
      }
      for (int row = 0; row < 2; ++row) {  // then over the columns: a = x0 + x1 + x2, b = x1 - x2 - x3
        float* const* x = row == 0 ? p : q;
        v_add3(a[row], x[0], x[1], x[2], tw);
        v_sub3(b[row], x[1], x[2], x[3], tw);
      }
      for (int row = 0; row < 2; ++row) {
        const int64_t r = 2 * ti + row;
        if (r >= d.H) break;
        float* __restrict out = y + (o * d.H + r) * d.W;
        const float* __restrict ea = a[row];
        const float* __restrict ob = b[row];
        const int64_t pairs = d.W / 2;
        for (int64_t k = 0; k < pairs; ++k) {
          out[2 * k] = ea[k] + bo;
          out[2 * k + 1] = ob[k] + bo;
        }
        if (d.W % 2) out[d.W - 1] = ea[pairs] + bo;
      }
    }
  }
}

// Gm[., o, t0 + tj] = A gy A^T per tile, the adjoint of output_transform, for one image's gradient
// g (Cout, H, W). scr: 16 tw floats.
void grad_output_transform(const float* g, const Wino& d, int64_t t0, float* Gm, int64_t T, int64_t plane, float* scr) {
  const int64_t tw = d.tw;
  float* y[2][2];  // gradient rows 2 ti + a, even (columns 2 tj) and odd (2 tj + 1) columns
  float* R[4][2];  // A over the rows: R0 = y0, R1 = y0 + y1, R2 = y0 - y1, R3 = -y1
  for (int a = 0; a < 2; ++a)
    for (int e = 0; e < 2; ++e) y[a][e] = scr + (2 * a + e) * tw;
  for (int i = 0; i < 4; ++i)
    for (int e = 0; e < 2; ++e) R[i][e] = scr + (4 + 2 * i + e) * tw;
  for (int64_t o = 0; o < d.Cout; ++o) {
    for (int64_t ti = 0; ti < d.th; ++ti) {
      for (int a = 0; a < 2; ++a) {
        float* __restrict e = y[a][0];
        float* __restrict od = y[a][1];
        const int64_t r = 2 * ti + a;
        if (r >= d.H) {
          std::fill(e, e + tw, 0.0f);
          std::fill(od, od + tw, 0.0f);
          continue;
        }
        const float* __restrict row = g + (o * d.H + r) * d.W;
        const int64_t pairs = d.W / 2;
        for (int64_t k = 0; k < pairs; ++k) {
          e[k] = row[2 * k];
          od[k] = row[2 * k + 1];
        }
        if (d.W % 2) {
          e[pairs] = row[d.W - 1];
          od[pairs] = 0.0f;
        }
      }
      for (int e = 0; e < 2; ++e) {
        v_copy(R[0][e], y[0][e], tw);
        v_add(R[1][e], y[0][e], y[1][e], tw);
        v_sub(R[2][e], y[0][e], y[1][e], tw);
        v_neg(R[3][e], y[1][e], tw);
      }
      // then over the columns: m(i, 0) = e, m(i, 1) = e + o, m(i, 2) = e - o, m(i, 3) = -o
      float* m = Gm + o * T + t0 + ti * tw;
      const int64_t step = plane;
      for (int i = 0; i < 4; ++i) {
        v_copy(m + (4 * i + 0) * step, R[i][0], tw);
        v_add(m + (4 * i + 1) * step, R[i][0], R[i][1], tw);
        v_sub(m + (4 * i + 2) * step, R[i][0], R[i][1], tw);
        v_neg(m + (4 * i + 3) * step, R[i][1], tw);
      }
    }
  }
}

// dx (Cin, H, W) of one image += B dV B^T per tile (the adjoint of input_transform), tiles of a
// row and rows of tiles in order. dx must be zeroed first. scr: 16 (tw + 1) floats.
void input_grad_transform(const float* dV, int64_t T, int64_t plane, const Wino& d, int64_t t0, float* dx, float* scr) {
  const int64_t n = d.tw + 1, tw = d.tw;
  float* s[4][2];  // column adjoint per tile row i: even (ev) and odd (od) columns
  float* r[4][2];  // then the row adjoint: gradient of input rows 2 ti - 1 + i
  for (int i = 0; i < 4; ++i)
    for (int e = 0; e < 2; ++e) {
      s[i][e] = scr + (2 * i + e) * n;
      r[i][e] = scr + (8 + 2 * i + e) * n;
    }
  const int64_t step = plane;  // from position xi to xi + 1
  for (int64_t c = 0; c < d.Cin; ++c) {
    float* xc = dx + c * d.H * d.W;
    for (int64_t ti = 0; ti < d.th; ++ti) {
      const float* base = dV + c * T + t0 + ti * tw;
      for (int i = 0; i < 4; ++i) {
        // columns: ev[k] = g0[k] + (-g0[k-1] + g1[k-1] + g2[k-1]);  od[k] = (g1[k] - g2[k] + g3[k]) - g3[k-1]
        const float* g0 = base + (4 * i + 0) * step;
        const float* g1 = base + (4 * i + 1) * step;
        const float* g2 = base + (4 * i + 2) * step;
        const float* g3 = base + (4 * i + 3) * step;
        float* ev = s[i][0];
        float* od = s[i][1];
        float* t1 = r[0][0];  // scratch, overwritten below
        float* t2 = r[0][1];
        v_nadd3(t1 + 1, g0, g1, g2, tw);  // t1[k] = -g0[k-1] + g1[k-1] + g2[k-1], k = 1..tw
        v_subadd(t2, g1, g2, g3, tw);     // t2[k] = g1[k] - g2[k] + g3[k], k = 0..tw-1
        ev[0] = g0[0];
        for (int64_t k = 1; k < tw; ++k) ev[k] = g0[k] + t1[k];
        ev[tw] = t1[tw];
        od[0] = t2[0];
        for (int64_t k = 1; k < tw; ++k) od[k] = t2[k] - g3[k - 1];
        od[tw] = -g3[tw - 1];
      }
      for (int e = 0; e < 2; ++e) {  // rows: d0 = s0, d1 = s1 - s2 + s3, d2 = -s0 + s1 + s2, d3 = -s3
        v_copy(r[0][e], s[0][e], n);
        v_subadd(r[1][e], s[1][e], s[2][e], s[3][e], n);
        v_nadd3(r[2][e], s[0][e], s[1][e], s[2][e], n);
        v_neg(r[3][e], s[3][e], n);
      }
      for (int i = 0; i < 4; ++i) {
        const int64_t rr = 2 * ti - 1 + i;
        if (rr < 0 || rr >= d.H) continue;
        float* __restrict row = xc + rr * d.W;
        const float* __restrict ev = r[i][0];  // column 2k - 1
        const float* __restrict od = r[i][1];  // column 2k
        row[0] += od[0];
        const int64_t pairs = d.W / 2;
        for (int64_t k = 1; k < pairs; ++k) {
          row[2 * k - 1] += ev[k];
          row[2 * k] += od[k];
        }
        for (int64_t k = std::max<int64_t>(pairs, 1); k < n; ++k) {
          const int64_t ce = 2 * k - 1, co = 2 * k;
          if (ce < d.W) row[ce] += ev[k];
          if (co < d.W) row[co] += od[k];
        }
      }
    }
  }
}

}  // namespace

namespace {
bool g_winograd = true;
}  // namespace

void set_winograd_enabled(bool on) { g_winograd = on; }
bool winograd_enabled() { return g_winograd; }

bool winograd_backward_input_applies(const Shape& x_shape, const Shape& w_shape, int64_t stride, int64_t padding,
                                     DType dtype) {
  return winograd_conv_applies(x_shape, w_shape, stride, padding, dtype) && x_shape[1] >= 128 && w_shape[0] >= 128;
}

bool winograd_conv_applies(const Shape& x_shape, const Shape& w_shape, int64_t stride, int64_t padding, DType dtype) {
  return g_winograd && dtype == DType::F32 && x_shape.size() == 4 && w_shape.size() == 4 && w_shape[2] == 3 &&
         w_shape[3] == 3 && stride == 1 && padding == 1 && x_shape[1] >= 8 && w_shape[0] >= 8 && x_shape[2] >= 1 &&
         x_shape[3] >= 1;
}

Tensor conv2d_winograd(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const Wino d = make_wino(x.shape(), w.size(0));
  const Tensor xc = x.contiguous();  // (B, Cin, H, W)
  const Tensor wc = w.contiguous();  // (Cout, Cin, 3, 3)
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = Tensor::empty({d.B, d.Cout, d.H, d.W}, DType::F32);  // (B, Cout, H, W)
  if (y.numel() == 0) return y;
  const int64_t nt = num_threads(), T = d.max_tiles();
  Tensor U = Tensor::empty({kXi, d.Cout, d.Cin});
  weight_transform(wc.data<float>(), U.data<float>(), d.Cout, d.Cin);
  // Per-thread buffers, allocated before the parallel region: V, M and the row scratch.
  const int64_t vp = d.vplane(), mp = d.mplane();
  Tensor V = Tensor::empty({nt, kXi * vp}), M = Tensor::empty({nt, kXi * mp});
  Tensor scr = Tensor::empty({nt, 16 * (d.tw + 1)});
  const float* px = xc.data<float>();
  const float* pu = U.data<float>();
  const float* pb = bc.defined() ? bc.data<float>() : nullptr;
  float* py = y.data<float>();
  parallel_tasks(d.chunks(), 2 * kXi * d.Cout * d.Cin * T, [&](int64_t ch, int t) {
    const int64_t b0 = ch * d.ipc, b1 = std::min(d.B, b0 + d.ipc), Tc = (b1 - b0) * d.tiles();
    float* v = V.data<float>() + t * kXi * vp;
    float* m = M.data<float>() + t * kXi * mp;
    float* s = scr.data<float>() + t * 16 * (d.tw + 1);
    for (int64_t b = b0; b < b1; ++b)
      input_transform(px + b * d.Cin * d.H * d.W, d, (b - b0) * d.tiles(), v, Tc, vp, s);
    for (int64_t xi = 0; xi < kXi; ++xi)  // M_xi (Cout, Tc) = U_xi (Cout, Cin) @ V_xi (Cin, Tc)
      gemm<float>(false, false, d.Cout, Tc, d.Cin, 1.0f, pu + xi * d.Cout * d.Cin, d.Cin, v + xi * vp, Tc, 0.0f,
                  m + xi * mp, Tc);
    for (int64_t b = b0; b < b1; ++b)
      output_transform(m, Tc, mp, d, (b - b0) * d.tiles(), pb, py + b * d.Cout * d.H * d.W, s);
  });
  return y;
}

Tensor conv2d_winograd_backward_input(const Tensor& grad_out, const Tensor& w, const Shape& x_shape) {
  const Wino d = make_wino(x_shape, grad_out.size(1));
  const Tensor gc = grad_out.contiguous();         // (B, Cout, H, W)
  const Tensor wc = w.contiguous();                // (Cout, Cin, 3, 3)
  Tensor dx = Tensor::empty(x_shape, DType::F32);  // (B, Cin, H, W); each image zeroed by its task
  if (dx.numel() == 0) return dx;
  const int64_t nt = num_threads(), T = d.max_tiles(), HW = d.H * d.W;
  Tensor U = Tensor::empty({kXi, d.Cout, d.Cin});
  weight_transform(wc.data<float>(), U.data<float>(), d.Cout, d.Cin);
  const int64_t vp = d.vplane(), mp = d.mplane();
  Tensor V = Tensor::empty({nt, kXi * vp}), Gm = Tensor::empty({nt, kXi * mp});  // per thread: dV, A gy A^T
  Tensor scr = Tensor::empty({nt, 16 * (d.tw + 1)});
  const float* pg = gc.data<float>();
  const float* pu = U.data<float>();
  float* pdx = dx.data<float>();
  parallel_tasks(d.chunks(), 2 * kXi * d.Cout * d.Cin * T, [&](int64_t ch, int t) {
    const int64_t b0 = ch * d.ipc, b1 = std::min(d.B, b0 + d.ipc), Tc = (b1 - b0) * d.tiles();
    float* s = scr.data<float>() + t * 16 * (d.tw + 1);
    float* v = V.data<float>() + t * kXi * vp;
    float* gm = Gm.data<float>() + t * kXi * mp;
    for (int64_t b = b0; b < b1; ++b)
      grad_output_transform(pg + b * d.Cout * HW, d, (b - b0) * d.tiles(), gm, Tc, mp, s);
    for (int64_t xi = 0; xi < kXi; ++xi)  // dV_xi (Cin, Tc) = U_xi^T (Cin, Cout) @ Gm_xi (Cout, Tc)
      gemm<float>(true, false, d.Cin, Tc, d.Cout, 1.0f, pu + xi * d.Cout * d.Cin, d.Cin, gm + xi * mp, Tc, 0.0f,
                  v + xi * vp, Tc);
    for (int64_t b = b0; b < b1; ++b) {  // dx = B dV B^T, tiles added in order
      float* dxb = pdx + b * d.Cin * HW;
      std::fill(dxb, dxb + d.Cin * HW, 0.0f);
      input_grad_transform(v, Tc, vp, d, (b - b0) * d.tiles(), dxb, s);
    }
  });
  return dx;
}

}  // namespace tinydiff
