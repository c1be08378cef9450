/* convcli native core: direct and separable 2-D correlation.
 *
 * One translation unit holds three variants of the same kernels: generic
 * (the compiler's baseline: SSE2 on x86-64, NEON on arm64), AVX2+FMA and
 * AVX-512, each compiled for its instruction set through a function
 * attribute, so the build needs no -march flag; module.c picks one at
 * import. The kernels know no pad modes: each padded row is gathered once,
 * through the caller's index maps, into a small ring of rows, and every
 * output block (BLOCK_ROWS rows x NV vectors of columns) is summed in
 * registers over all taps before it is stored.
 *
 * With a column stride sw > 1 a padded row is kept in sw phases (cells
 * p, p + sw, p + 2 sw, ... in phase p mod sw), so the cells the outputs
 * q, q+1, ... read for one tap are consecutive in memory.
 */
#include "correlate.h"

#include <string.h>

#define BR CONVCLI_BLOCK_ROWS
/* a cell's bits as a signed integer, and the mask that clears its sign */
#define IT_f32 int32_t
#define IT_f64 int64_t
#define MASK_f32 0x7fffffff
#define MASK_f64 0x7fffffffffffffffLL

/* ------------------------------------------------------------ the ring of padded rows */

/* the padded row's cells from integer source cells of type U (phase layout for SW > 1) */
#define convert_row(row, SW, L, U)                                                       \
    do {                                                                                 \
        for (ptrdiff_t k = 0; k < ncols; k++) {                                          \
            const int64_t c = j->cols[k];                                                \
            row[(k % (SW)) * (L) + k / (SW)] = c < 0 ? pad : *(const U *)(base + c * cs);\
        }                                                                                \
    } while (0)

#define DEFINE_RING(T, SUF)                                                              \
    static inline __attribute__((always_inline)) const T *ring_row_##SUF(                \
        const cc_job *j, cc_space *s, ptrdiff_t p, ptrdiff_t slot) {                     \
        T *row = (T *)s->ring + slot * s->row_len;                                       \
        if (s->tags[slot] == p) return row;                                              \
        s->tags[slot] = p;                                                               \
        const ptrdiff_t ncols = (j->ow - 1) * j->sw + (j->kw - 1) * j->dw + 1;           \
        const ptrdiff_t sw = j->sw, L = s->phase_len;                                    \
        const T pad = (T)j->pad_value;                                                   \
        const int64_t sr = j->rows[p];                                                   \
        if (sr < 0) {                                                                    \
            for (ptrdiff_t k = 0; k < ncols; k++) row[(k % sw) * L + k / sw] = pad;      \
            return row;                                                                  \
        }                                                                                \
        const char *base = j->src + sr * j->src_s0;                                      \
        const ptrdiff_t cs = j->src_s1;                                                  \
        s->fresh = base; /* a source row read for the first time in this call */        \
        if (j->src_type == CC_UINT8 && sw == 1 && cs == 1 && j->run1 > j->run0) {        \
            /* consecutive bytes: the longest run converted in one (vectorized) loop */  \
            const ptrdiff_t a = j->run0 < ncols ? j->run0 : ncols;                       \
            const ptrdiff_t b = j->run1 < ncols ? j->run1 : ncols;                       \
            for (ptrdiff_t k = 0; k < a; k++)                                            \
                row[k] = j->cols[k] < 0 ? pad : (T)((const uint8_t *)base)[j->cols[k]];  \
            if (b > a) {                                                                 \
                const uint8_t *from = (const uint8_t *)base + j->cols[a];                \
                T *to = row + a;                                                         \
                for (ptrdiff_t k = 0; k < b - a; k++) to[k] = (T)from[k];                \
            }                                                                            \
            for (ptrdiff_t k = b > a ? b : a; k < ncols; k++)                            \
                row[k] = j->cols[k] < 0 ? pad : (T)((const uint8_t *)base)[j->cols[k]];  \
            return row;                                                                  \
        }                                                                                \
        if (j->src_type == CC_UINT8) { /* integer pixels, converted as they are read */ \
            if (sw == 1) convert_row(row, 1, 0, uint8_t);                                \
            else convert_row(row, sw, L, uint8_t);                                       \
            return row;                                                                  \
        }                                                                                \
        if (j->src_type == CC_UINT16) {                                                  \
            if (sw == 1) convert_row(row, 1, 0, uint16_t);                               \
            else convert_row(row, sw, L, uint16_t);                                      \
            return row;                                                                  \
        }                                                                                \
        ptrdiff_t a = j->run0 < ncols ? j->run0 : ncols;                                 \
        ptrdiff_t b = j->run1 < ncols ? j->run1 : ncols;                                 \
        if (sw != 1 || cs != (ptrdiff_t)sizeof(T) || a >= b) a = b = 0;                  \
        for (ptrdiff_t k = 0; k < a; k++) {                                              \
            int64_t c = j->cols[k];                                                      \
            row[k] = c < 0 ? pad : *(const T *)(base + c * cs);                          \
        }                                                                                \
        if (b > a && j->scan && j->cols[a] == 0 && b - a == j->w) {                      \
            /* the whole source row in one run: copied and scanned in one pass (in the     \
             * caller's instruction set: this function is inlined into each variant) */   \
            typedef IT_##SUF it __attribute__((may_alias));                               \
            const it *from = (const it *)base;                                            \
            it *to = (it *)(row + a), m = 0;                                              \
            for (ptrdiff_t k = 0; k < b - a; k++) {                                       \
                const it x = from[k];                                                     \
                to[k] = x;                                                                \
                m = (x & MASK_##SUF) > m ? (x & MASK_##SUF) : m;                          \
            }                                                                             \
            if ((uint64_t)m > s->scan_bits) s->scan_bits = (uint64_t)m;                   \
            s->fresh = NULL; /* scanned already */                                        \
        } else if (b > a)                                                                 \
            memcpy(row + a, base + j->cols[a] * cs, (size_t)(b - a) * sizeof(T));         \
        for (ptrdiff_t k = b; k < ncols; k++) {                                          \
            int64_t c = j->cols[k];                                                      \
            row[(k % sw) * L + k / sw] = c < 0 ? pad : *(const T *)(base + c * cs);      \
        }                                                                                \
        return row;                                                                      \
    }

DEFINE_RING(float, f32)
DEFINE_RING(double, f64)

/* rowsk_ stores straight from its registers (PLAIN) where the output is cells of the
 * compute type, consecutive in a row, overwritten; not where 16 accumulators (generic:
 * every register) meet a kernel taller than 3 rows: the compiler then spills them */
#define PLAIN_OK(KH, NV) (BR * (NV) <= 12 || (KH) <= 3)
#define PLAIN_OUT(j, T) \
    (!(j)->out_u8 && !(j)->accumulate && (j)->out_s1 == (ptrdiff_t)sizeof(T))

/* ------------------------------------------------------------ the kernels, per variant
 *
 * SUF: name suffix; ATTR: the target attribute; T: cell type; VT/VTU: its
 * vector type (aligned / unaligned); VW: lanes; NV: vectors per block row.
 */
#define DEFINE_KERNELS(SUF, ATTR, T, RING, VT, VTU, VW, NV)                                   \
    /* uint8 pixels of rows [r, r + nb) of output chunk q0 from the accumulators: |v|      \
     * (range_abs), clipped to 0..255 (NaN to 0), rounded half to even as numpy's clip then \
     * rint would, by adding 2**23 (2**52 for double), which leaves the integer in the low  \
     * bits; in vector registers, with bit masks (no branch on the data) */                 \
    typedef IT_##RING VI_##SUF __attribute__((vector_size(sizeof(VT))));                    \
    ATTR static inline __attribute__((always_inline)) void store_u8_##SUF(                   \
        const cc_job *j, VT acc[BR][NV], ptrdiff_t r, int nb, ptrdiff_t q0) {                \
        enum { CH = VW * NV };                                                               \
        typedef VI_##SUF VI;                                                                 \
        const VT zero = {0}, top = zero + (T)255;                                            \
        const VT magic = zero + (sizeof(T) == 4 ? (T)8388608.0 : (T)4503599627370496.0);     \
        const VI sign = (VI){0} + (IT_##RING)MASK_##RING;                                    \
        const ptrdiff_t n = j->ow - q0 < CH ? j->ow - q0 : CH;                               \
        for (int b = 0; b < BR; b++) {                                                       \
            if (b >= nb) break;                                                              \
            uint8_t px[CH];                                                                  \
            IT_##RING ints[CH];                                                              \
            for (int v = 0; v < NV; v++) {                                                   \
                VT x = acc[b][v];                                                            \
                if (j->range_abs) x = (VT)((VI)x & sign);                                    \
                x = (VT)((VI)x & (x > zero));                                                \
                const VI big = x > top;                                                      \
                x = (VT)(((VI)x & ~big) | ((VI)top & big));                                  \
                /* x + 2**23 rounds x to an integer, held in the low bits of the sum */     \
                const VI bits = (VI)(x + magic);                                             \
                memcpy(ints + v * VW, &bits, sizeof bits);                                   \
            }                                                                                \
            for (int q = 0; q < CH; q++) px[q] = (uint8_t)ints[q];                          \
            uint8_t *row = (uint8_t *)(j->out + (r + b) * j->out_s0 + q0 * j->out_s1);      \
            if (j->out_s1 == 1 && n == CH)                                                   \
                memcpy(row, px, CH); /* a fixed size: a few moves, no call */               \
            else                                                                             \
                for (ptrdiff_t q = 0; q < n; q++) row[q * j->out_s1] = px[q];                \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    /* rows [r, r + nb) of output chunk q0 from the accumulators */                          \
    ATTR static inline __attribute__((always_inline)) void store_##SUF(                      \
        const cc_job *j, cc_space *s, VT acc[BR][NV], ptrdiff_t r, int nb, ptrdiff_t q0) {    \
        enum { CH = VW * NV };                                                               \
        const ptrdiff_t n = j->ow - q0 < CH ? j->ow - q0 : CH;                               \
        if (j->out_u8) {                                                                     \
            store_u8_##SUF(j, acc, r, nb, q0);                                               \
            return;                                                                          \
        }                                                                                    \
        for (int b = 0; b < nb; b++) {                                                       \
            char *row = j->out + (r + b) * j->out_s0 + q0 * j->out_s1;                       \
            if (n == CH && j->out_s1 == (ptrdiff_t)sizeof(T)) {                              \
                T *d = (T *)row;                                                             \
                for (int v = 0; v < NV; v++) {                                               \
                    if (j->accumulate)                                                       \
                        *(VTU *)(d + v * VW) = *(const VTU *)(d + v * VW) + acc[b][v];       \
                    else                                                                     \
                        *(VTU *)(d + v * VW) = acc[b][v];                                    \
                }                                                                            \
            } else {                                                                         \
                T *tmp = (T *)s->tmp;                                                        \
                for (int v = 0; v < NV; v++) *(VTU *)(tmp + v * VW) = acc[b][v];             \
                for (ptrdiff_t q = 0; q < n; q++) {                                          \
                    T *d = (T *)(row + q * j->out_s1);                                       \
                    *d = j->accumulate ? *d + tmp[q] : tmp[q];                               \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    /* outputs of one block of rows: ptrs[b * kh + i] is row b's padded row of tap row i */   \
    ATTR static void block_##SUF(const cc_job *j, cc_space *s, const T *const *ptrs,         \
                                 ptrdiff_t kh, ptrdiff_t ntaps, const ptrdiff_t *trow,       \
                                 const ptrdiff_t *toff, const double *tw, ptrdiff_t r,       \
                                 int nb) {                                                   \
        enum { CH = VW * NV };                                                               \
        const ptrdiff_t ow = j->ow;                                                          \
        for (ptrdiff_t q0 = 0; q0 < ow; q0 += CH) {                                          \
            VT acc[BR][NV];                                                                  \
            for (int b = 0; b < BR; b++)                                                     \
                for (int v = 0; v < NV; v++) acc[b][v] = (VT){0};                            \
            /* taps come grouped by kernel row: the block's 4 row pointers per group */     \
            for (ptrdiff_t t = 0; t < ntaps;) {                                              \
                const ptrdiff_t i = trow[t];                                                 \
                const T *src[BR];                                                            \
                for (int b = 0; b < BR; b++) src[b] = ptrs[b * kh + i] + q0;                 \
                for (; t < ntaps && trow[t] == i; t++) {                                     \
                    const T w = (T)tw[t];                                                    \
                    const ptrdiff_t off = toff[t];                                           \
                    for (int b = 0; b < BR; b++)                                             \
                        for (int v = 0; v < NV; v++)                                         \
                            acc[b][v] += w * *(const VTU *)(src[b] + off + v * VW);          \
                }                                                                            \
            }                                                                                \
            store_##SUF(j, s, acc, r, nb, q0);                                               \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    /* with j->scan, the largest sign-cleared bit pattern of a source row's cells (its   \
     * largest magnitude; above every finite one for NaN or infinity) into s->scan_bits */ \
    ATTR static void scan_##SUF(const cc_job *j, cc_space *s, const char *base) {            \
        typedef IT_##RING it __attribute__((may_alias));                                     \
        const it mask = MASK_##RING;                                                         \
        it m[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                  \
        ptrdiff_t k = 0;                                                                     \
        if (j->src_s1 == (ptrdiff_t)sizeof(T)) {                                             \
            const it *c = (const it *)base;                                                  \
            for (; k + 8 <= j->w; k += 8)                                                    \
                for (int u = 0; u < 8; u++) {                                                \
                    const it x = c[k + u] & mask;                                            \
                    m[u] = x > m[u] ? x : m[u];                                              \
                }                                                                            \
        }                                                                                    \
        for (; k < j->w; k++) {                                                              \
            const it x = *(const it *)(base + k * j->src_s1) & mask;                         \
            m[0] = x > m[0] ? x : m[0];                                                      \
        }                                                                                    \
        for (int u = 1; u < 8; u++) m[0] = m[u] > m[0] ? m[u] : m[0];                        \
        if ((uint64_t)m[0] > s->scan_bits) s->scan_bits = (uint64_t)m[0];                    \
    }                                                                                        \
                                                                                             \
    /* the padded rows of block r (rows past r1 repeat the last one, their outputs unused) */\
    ATTR static void rows_##SUF(const cc_job *j, cc_space *s, ptrdiff_t r, int nb) {         \
        for (int b = 0; b < BR; b++) {                                                       \
            const ptrdiff_t rb = r + (b < nb ? b : nb - 1);                                  \
            for (ptrdiff_t i = 0; i < j->kh; i++) {                                          \
                const ptrdiff_t p = rb * j->sh + i * j->dh;                                  \
                const ptrdiff_t slot = s->direct_mapped ? p % s->slots : b * j->kh + i;      \
                s->fresh = NULL;                                                             \
                s->ptrs[b * j->kh + i] = ring_row_##RING(j, s, p, slot);                     \
                if (j->scan && s->fresh) scan_##SUF(j, s, s->fresh);                         \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    /* a whole block of rows of a kernel of KH rows (a constant), stride and dilation 1     \
     * down: padded row p of the block feeds output rows p - KH + 1 ... p, so each vector   \
     * is loaded once for all of them (the loops unroll: every accumulator stays in a      \
     * register, and the pairs (p, b) outside the kernel are dropped at compile time) */   \
    ATTR static inline __attribute__((always_inline)) void rowsk_##SUF(                      \
        const cc_job *j, cc_space *s, ptrdiff_t r, const int KH, const int PLAIN) {          \
        enum { CH = VW * NV };                                                               \
        const ptrdiff_t nd = s->ndense;                                                      \
        const T *const *ptrs = (const T *const *)s->ptrs;                                    \
        const T *wt = (const T *)s->dense_w;                                                 \
        const ptrdiff_t *doff = s->dense_off;                                                \
        /* the source rows the next block gathers first, fetched into the cache while     \
         * this block computes (else the gathering waits on memory, the sums do not) */   \
        const char *next[BR];                                                                \
        int nnext = 0;                                                                       \
        for (int b = 0; b < BR; b++) {                                                       \
            const ptrdiff_t rb = r + BR + b;                                                 \
            if (rb >= j->r1) break;                                                          \
            const int64_t sr = j->rows[rb + KH - 1];                                         \
            if (sr >= 0) next[nnext++] = j->src + sr * j->src_s0;                            \
        }                                                                                    \
        const ptrdiff_t reach = j->w * j->src_s1;                                            \
        for (ptrdiff_t q0 = 0; q0 < j->ow; q0 += CH) {                                       \
            /* twice this block's columns (the rows are fetched by mid-row) */             \
            const ptrdiff_t at = q0 * (ptrdiff_t)sizeof(T) * 2;                              \
            if (sizeof(VT) >= 32 && j->src_s1 == (ptrdiff_t)sizeof(T))                       \
                for (ptrdiff_t a = at; a < at + 2 * CH * (ptrdiff_t)sizeof(T) && a < reach;  \
                     a += 64)                                                                \
                    for (int b = 0; b < nnext; b++) __builtin_prefetch(next[b] + a, 0, 2);   \
            VT acc[BR][NV];                                                                  \
            for (int b = 0; b < BR; b++)                                                     \
                for (int v = 0; v < NV; v++) acc[b][v] = (VT){0};                            \
            _Pragma("GCC unroll 16") for (int p = 0; p < BR + KH - 1; p++) {                 \
                const int b0 = p < KH ? 0 : p - KH + 1;                                      \
                const T *src = ptrs[b0 * KH + (p - b0)] + q0;                                \
                for (ptrdiff_t c = 0; c < nd; c++) {                                         \
                    VT x[NV];                                                                \
                    for (int v = 0; v < NV; v++) x[v] = *(const VTU *)(src + doff[c] + v * VW);\
                    _Pragma("GCC unroll 4") for (int b = 0; b < BR; b++) {                   \
                        if (p - b < 0 || p - b >= KH) continue;                              \
                        const T w = wt[(p - b) * nd + c];                                    \
                        for (int v = 0; v < NV; v++) acc[b][v] += w * x[v];                  \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
            if (PLAIN && q0 + CH <= j->ow) {                                                 \
                /* straight from the registers (the general store_ keeps them in memory) */  \
                for (int b = 0; b < BR; b++) {                                               \
                    T *d = (T *)(j->out + (r + b) * j->out_s0) + q0;                         \
                    for (int v = 0; v < NV; v++) *(VTU *)(d + v * VW) = acc[b][v];           \
                }                                                                            \
            } else if (PLAIN) {                                                              \
                VT part[BR][NV]; /* a copy: acc itself stays in registers */                 \
                memcpy(part, acc, sizeof part);                                              \
                store_##SUF(j, s, part, r, BR, q0);                                          \
            } else                                                                           \
                store_##SUF(j, s, acc, r, BR, q0);                                           \
        }                                                                                    \
    }                                                                                        \
    ATTR static void rows3_##SUF(const cc_job *j, cc_space *s, ptrdiff_t r) {                \
        if (PLAIN_OK(3, NV) && PLAIN_OUT(j, T)) rowsk_##SUF(j, s, r, 3, 1);                      \
        else rowsk_##SUF(j, s, r, 3, 0);                                                     \
    }                                                                                        \
    ATTR static void rows5_##SUF(const cc_job *j, cc_space *s, ptrdiff_t r) {                \
        if (PLAIN_OK(5, NV) && PLAIN_OUT(j, T)) rowsk_##SUF(j, s, r, 5, 1);                      \
        else rowsk_##SUF(j, s, r, 5, 0);                                                     \
    }                                                                                        \
    ATTR static void rows7_##SUF(const cc_job *j, cc_space *s, ptrdiff_t r) {                \
        if (PLAIN_OK(7, NV) && PLAIN_OUT(j, T)) rowsk_##SUF(j, s, r, 7, 1);                      \
        else rowsk_##SUF(j, s, r, 7, 0);                                                     \
    }                                                                                        \
    ATTR static void rows9_##SUF(const cc_job *j, cc_space *s, ptrdiff_t r) {                \
        if (PLAIN_OK(9, NV) && PLAIN_OUT(j, T)) rowsk_##SUF(j, s, r, 9, 1);                      \
        else rowsk_##SUF(j, s, r, 9, 0);                                                     \
    }                                                                                        \
    ATTR static void rows11_##SUF(const cc_job *j, cc_space *s, ptrdiff_t r) {               \
        if (PLAIN_OK(11, NV) && PLAIN_OUT(j, T)) rowsk_##SUF(j, s, r, 11, 1);                    \
        else rowsk_##SUF(j, s, r, 11, 0);                                                    \
    }                                                                                        \
                                                                                             \
    ATTR static void direct_##SUF(const cc_job *j, cc_space *s) {                            \
        const int dense = j->sh == 1 && j->dh == 1 && s->dense_w;                            \
        for (ptrdiff_t r = j->r0; r < j->r1; r += BR) {                                      \
            const int nb = (int)(j->r1 - r < BR ? j->r1 - r : BR);                           \
            rows_##SUF(j, s, r, nb);                                                         \
            if (dense && nb == BR && j->kh == 3)                                             \
                rows3_##SUF(j, s, r);                                                        \
            else if (dense && nb == BR && j->kh == 5)                                        \
                rows5_##SUF(j, s, r);                                                        \
            else if (dense && nb == BR && j->kh == 7)                                        \
                rows7_##SUF(j, s, r);                                                        \
            else if (dense && nb == BR && j->kh == 9)                                        \
                rows9_##SUF(j, s, r);                                                        \
            else if (dense && nb == BR && j->kh == 11)                                       \
                rows11_##SUF(j, s, r);                                                       \
            else                                                                             \
                block_##SUF(j, s, (const T *const *)s->ptrs, j->kh, s->ntaps, s->tap_row,    \
                            s->tap_off, s->tap_w, r, nb);                                    \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    /* the separable form one output row at a time, with a box factor (j->run_down: the   \
     * column factor, stride and dilation 1 down; j->run_across: the row factor, stride    \
     * and dilation 1 across) summed as a running sum in double: the column sums of row r  \
     * are those of row r - 1 plus padded row r + kh - 1 minus padded row r - 1, and each  \
     * window along a row is the one before plus its new cell minus its old one */        \
    ATTR static const T *runrow_##SUF(const cc_job *j, cc_space *s, ptrdiff_t p,             \
                                      ptrdiff_t i) {                                         \
        s->fresh = NULL;                                                                     \
        const T *row = ring_row_##RING(j, s, p, s->direct_mapped ? p % s->slots : i);        \
        if (j->scan && s->fresh) scan_##SUF(j, s, s->fresh);                                 \
        return row;                                                                          \
    }                                                                                        \
    ATTR static void running_##SUF(const cc_job *j, cc_space *s) {                           \
        const ptrdiff_t len = s->row_len, kh = j->kh, kw = j->kw;                            \
        double *sums = s->sums;                                                              \
        T *mid = (T *)s->mid, *across = (T *)s->mid + len;                                   \
        const T *row_out = j->run_across ? across : mid;                                     \
        const T *mids[BR] = {row_out, row_out, row_out, row_out};                            \
        const ptrdiff_t one_row = 0;                                                         \
        const ptrdiff_t one_off = 0;                                                         \
        const double one = 1.0;                                                              \
        for (ptrdiff_t r = j->r0; r < j->r1; r++) {                                          \
            if (j->run_down && r > j->r0) {                                                  \
                const T *add = runrow_##SUF(j, s, r + kh - 1, kh - 1);                       \
                const T *sub = runrow_##SUF(j, s, r - 1, 0);                                 \
                for (ptrdiff_t m = 0; m < len; m++) sums[m] += (double)add[m] - sub[m];      \
            } else if (j->run_down) {                                                        \
                for (ptrdiff_t m = 0; m < len; m++) sums[m] = 0.0;                           \
                for (ptrdiff_t i = 0; i < kh; i++) {                                         \
                    const T *src = runrow_##SUF(j, s, r + i, i);                             \
                    for (ptrdiff_t m = 0; m < len; m++) sums[m] += src[m];                   \
                }                                                                            \
            }                                                                                \
            if (j->run_down) {                                                               \
                const double w = s->col_w[0];                                                \
                for (ptrdiff_t m = 0; m < len; m++) mid[m] = (T)(w * sums[m]);               \
            } else {                                                                         \
                for (ptrdiff_t m = 0; m < len; m++) mid[m] = 0;                              \
                for (ptrdiff_t t = 0; t < s->ncol_taps; t++) {                               \
                    const ptrdiff_t i = s->col_row[t];                                       \
                    const T *src = runrow_##SUF(j, s, r * j->sh + i * j->dh, i);             \
                    const T w = (T)s->col_w[t];                                              \
                    for (ptrdiff_t m = 0; m < len; m++) mid[m] += w * src[m];                \
                }                                                                            \
            }                                                                                \
            if (j->run_across) {                                                             \
                const double w = s->tap_w[0];                                                \
                double run = 0.0;                                                            \
                for (ptrdiff_t q = 0; q < kw; q++) run += mid[q];                            \
                across[0] = (T)(w * run);                                                    \
                for (ptrdiff_t q = 1; q < j->ow; q++) {                                      \
                    run += (double)mid[q + kw - 1] - mid[q - 1];                             \
                    across[q] = (T)(w * run);                                                \
                }                                                                            \
                /* stored through block_ as one tap of weight 1 (exact) */                   \
                block_##SUF(j, s, mids, 1, 1, &one_row, &one_off, &one, r, 1);               \
            } else                                                                           \
                block_##SUF(j, s, mids, 1, s->ntaps, s->tap_row, s->tap_off, s->tap_w, r, 1);\
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    /* column pass into BR rows of mid (all row_len cells), then the row pass from them */   \
    ATTR static void separable_##SUF(const cc_job *j, cc_space *s) {                         \
        enum { CH = VW * NV };                                                               \
        if (j->run_down || j->run_across) {                                                  \
            running_##SUF(j, s);                                                             \
            return;                                                                          \
        }                                                                                    \
        const T *mids[BR];                                                                   \
        for (int b = 0; b < BR; b++) mids[b] = (const T *)s->mid + b * s->row_len;           \
        for (ptrdiff_t r = j->r0; r < j->r1; r += BR) {                                      \
            const int nb = (int)(j->r1 - r < BR ? j->r1 - r : BR);                           \
            rows_##SUF(j, s, r, nb);                                                         \
            const T *const *ptrs = (const T *const *)s->ptrs;                                \
            for (ptrdiff_t m0 = 0; m0 < s->row_len; m0 += CH) {                              \
                VT acc[BR][NV];                                                              \
                for (int b = 0; b < BR; b++)                                                 \
                    for (int v = 0; v < NV; v++) acc[b][v] = (VT){0};                        \
                for (ptrdiff_t t = 0; t < s->ncol_taps; t++) {                               \
                    const T w = (T)s->col_w[t];                                              \
                    const ptrdiff_t i = s->col_row[t];                                       \
                    for (int b = 0; b < BR; b++) {                                           \
                        const T *src = ptrs[b * j->kh + i] + m0;                             \
                        for (int v = 0; v < NV; v++)                                         \
                            acc[b][v] += w * *(const VTU *)(src + v * VW);                   \
                    }                                                                        \
                }                                                                            \
                for (int b = 0; b < BR; b++)                                                 \
                    for (int v = 0; v < NV; v++)                                             \
                        *(VTU *)((T *)mids[b] + m0 + v * VW) = acc[b][v];                    \
            }                                                                                \
            block_##SUF(j, s, mids, 1, s->ntaps, s->tap_row, s->tap_off, s->tap_w, r, nb);   \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    /* pooling: max, min or sum over every tap of the window; plain loops over a block */    \
    /* the compiler vectorizes for the variant's instruction set (the cells are finite) */   \
    ATTR static void pool_##SUF(const cc_job *j, cc_space *s) {                              \
        enum { CH = VW * NV };                                                               \
        T acc[BR][CH];                                                                       \
        for (ptrdiff_t r = j->r0; r < j->r1; r += BR) {                                      \
            const int nb = (int)(j->r1 - r < BR ? j->r1 - r : BR);                           \
            rows_##SUF(j, s, r, nb);                                                         \
            const T *const *ptrs = (const T *const *)s->ptrs;                                \
            for (ptrdiff_t q0 = 0; q0 < j->ow; q0 += CH) {                                   \
                for (ptrdiff_t t = 0; t < s->ntaps; t++) {                                   \
                    const ptrdiff_t off = s->tap_off[t] + q0, i = s->tap_row[t];             \
                    for (int b = 0; b < BR; b++) {                                           \
                        const T *src = ptrs[b * j->kh + i] + off;                            \
                        T *a = acc[b];                                                       \
                        if (t == 0)                                                          \
                            for (int q = 0; q < CH; q++) a[q] = src[q];                      \
                        else if (j->op == CC_MAX)                                            \
                            for (int q = 0; q < CH; q++) a[q] = a[q] > src[q] ? a[q] : src[q];\
                        else if (j->op == CC_MIN)                                            \
                            for (int q = 0; q < CH; q++) a[q] = a[q] < src[q] ? a[q] : src[q];\
                        else                                                                 \
                            for (int q = 0; q < CH; q++) a[q] += src[q];                     \
                    }                                                                        \
                }                                                                            \
                const ptrdiff_t n = j->ow - q0 < CH ? j->ow - q0 : CH;                       \
                for (int b = 0; b < nb; b++) {                                               \
                    char *row = j->out + (r + b) * j->out_s0 + q0 * j->out_s1;               \
                    for (ptrdiff_t q = 0; q < n; q++) *(T *)(row + q * j->out_s1) = acc[b][q];\
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

#if defined(__GNUC__) || defined(__clang__)
#define VEC(T, BYTES) __attribute__((vector_size(BYTES)))
#define VECU(T, BYTES) __attribute__((vector_size(BYTES), aligned(sizeof(T)), may_alias))
#else
#error "convcli's native core needs GCC or Clang vector extensions"
#endif

/* generic: 16-byte vectors (SSE2, NEON), two per block row */
typedef float g_f32 VEC(float, 16);
typedef float g_f32u VECU(float, 16);
typedef double g_f64 VEC(double, 16);
typedef double g_f64u VECU(double, 16);
DEFINE_KERNELS(generic_f32, , float, f32, g_f32, g_f32u, 4, 4)
DEFINE_KERNELS(generic_f64, , double, f64, g_f64, g_f64u, 2, 4)

const cc_variant cc_generic = {
    "generic",
    {direct_generic_f32, direct_generic_f64},
    {separable_generic_f32, separable_generic_f64},
    {pool_generic_f32, pool_generic_f64},
};

#ifdef CONVCLI_X86
/* AVX2 + FMA: 32-byte vectors, two per block row (8 accumulators of 16 registers) */
#define AVX2 __attribute__((target("avx2,fma")))
typedef float a2_f32 VEC(float, 32);
typedef float a2_f32u VECU(float, 32);
typedef double a2_f64 VEC(double, 32);
typedef double a2_f64u VECU(double, 32);
DEFINE_KERNELS(avx2_f32, AVX2, float, f32, a2_f32, a2_f32u, 8, 3)
DEFINE_KERNELS(avx2_f64, AVX2, double, f64, a2_f64, a2_f64u, 4, 3)

const cc_variant cc_avx2 = {
    "avx2",
    {direct_avx2_f32, direct_avx2_f64},
    {separable_avx2_f32, separable_avx2_f64},
    {pool_avx2_f32, pool_avx2_f64},
};

/* AVX-512: 64-byte vectors, four per block row (16 accumulators of 32 registers).
 * Built with -DCONVCLI_AVX512_AS_AVX2 (a test build, see .ci/run), the same blocking is
 * compiled for AVX2 + FMA instead: the compiler lowers each 64-byte vector operation
 * to two 32-byte ones, so a CPU without AVX-512 runs (and tests) this variant's loops. */
#ifdef CONVCLI_AVX512_AS_AVX2
#define AVX512 __attribute__((target("avx2,fma")))
#else
#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#endif
typedef float a5_f32 VEC(float, 64);
typedef float a5_f32u VECU(float, 64);
typedef double a5_f64 VEC(double, 64);
typedef double a5_f64u VECU(double, 64);
DEFINE_KERNELS(avx512_f32, AVX512, float, f32, a5_f32, a5_f32u, 16, 4)
DEFINE_KERNELS(avx512_f64, AVX512, double, f64, a5_f64, a5_f64u, 8, 4)

const cc_variant cc_avx512 = {
    "avx512",
    {direct_avx512_f32, direct_avx512_f64},
    {separable_avx512_f32, separable_avx512_f64},
    {pool_avx512_f32, pool_avx512_f64},
};
#endif
