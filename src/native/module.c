/* convcli.engine._native: the Python glue of the native core.
 *
 * The buffer protocol only (no numpy C-API). Every entry point checks every
 * buffer, shape, stride, parameter and index it is given, raising a Python
 * exception (TypeError, ValueError, IndexError, OverflowError, MemoryError)
 * for a bad call, then releases the GIL for the loops (correlate.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "correlate.h"

/* every variant's block width divides this, so a row of this many cells holds whole blocks */
#define ROW_QUANTUM 192
#define MAX_PARAM ((Py_ssize_t)1 << 40)

static const cc_variant *active = &cc_generic;

static int cpu_has(const char *name) {
#ifdef CONVCLI_X86
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#ifdef CONVCLI_AVX512_AS_AVX2
    if (strcmp(name, "avx512") == 0) /* its loops compiled for AVX2 (correlate.c) */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
    return strcmp(name, "generic") == 0;
}

static const cc_variant *variant_named(const char *name) {
    if (strcmp(name, "generic") == 0) return &cc_generic;
#ifdef CONVCLI_X86
    if (strcmp(name, "avx2") == 0) return &cc_avx2;
    if (strcmp(name, "avx512") == 0) return &cc_avx512;
#endif
    return NULL;
}

/* ------------------------------------------------------------------ checked arithmetic */

/* a * b + c for non-negative operands, or -1 on overflow of Py_ssize_t */
static Py_ssize_t mul_add(Py_ssize_t a, Py_ssize_t b, Py_ssize_t c) {
    Py_ssize_t p, s;
    if (__builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(p, c, &s)) return -1;
    return s;
}

/* ------------------------------------------------------------------ buffers */

typedef struct {
    Py_buffer view;
    int held;
} buf_t;

static void release(buf_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (b[i].held) {
            PyBuffer_Release(&b[i].view);
            b[i].held = 0;
        }
}

/* the type code of a buffer's format ('f', 'd', 'q', ...) in native byte order, or 0 */
static char type_code(const Py_buffer *v) {
    const char *f = v->format ? v->format : "B";
    if (f[0] == '@' || f[0] == '=') f++;
#if PY_LITTLE_ENDIAN
    else if (f[0] == '<') f++;
#else
    else if (f[0] == '>' || f[0] == '!') f++;
#endif
    if (f[0] == 0 || f[1] != 0) return 0;
    return f[0];
}

static int get(PyObject *obj, buf_t *b, const char *name, int writable, int ndim) {
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "`%s` must be a %sbuffer (an array), got %.100s", name,
                     writable ? "writable " : "", Py_TYPE(obj)->tp_name);
        return -1;
    }
    b->held = 1;
    if (b->view.ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "`%s` must have %d dimension(s), got %d", name, ndim,
                     b->view.ndim);
        return -1;
    }
    for (int k = 0; k < ndim; k++)
        if (b->view.shape[k] < 1) {
            PyErr_Format(PyExc_ValueError, "`%s` is empty (axis %d has length %zd)", name, k,
                         b->view.shape[k]);
            return -1;
        }
    if (b->view.suboffsets) {
        PyErr_Format(PyExc_ValueError, "`%s` must not have suboffsets", name);
        return -1;
    }
    return 0;
}

/* cells in [0, n) of a buffer are contiguous */
static int contiguous(const Py_buffer *v) {
    Py_ssize_t step = v->itemsize;
    for (int k = v->ndim - 1; k >= 0; k--) {
        if (v->shape[k] > 1 && v->strides[k] != step) return 0;
        step *= v->shape[k];
    }
    return 1;
}

static int check_float(const buf_t *b, const char *name, char code) {
    char c = type_code(&b->view);
    Py_ssize_t size = code == 'f' ? 4 : 8;
    if (c != code || b->view.itemsize != size) {
        PyErr_Format(PyExc_TypeError, "`%s` must hold %s, got format '%s'", name,
                     code == 'f' ? "float32" : "float64",
                     b->view.format ? b->view.format : "B");
        return -1;
    }
    return 0;
}

static int check_float_item(const Py_buffer *v, const char *name, char *code) {
    char c = type_code(v);
    if (!((c == 'f' && v->itemsize == 4) || (c == 'd' && v->itemsize == 8))) {
        PyErr_Format(PyExc_TypeError, "`%s` must hold float32 or float64, got format '%s'",
                     name, v->format ? v->format : "B");
        return -1;
    }
    *code = c;
    return 0;
}

/* an index map: 1-D contiguous int64 of at least `need` entries in [-1, limit) */
static int check_map(const buf_t *b, const char *name, Py_ssize_t need, Py_ssize_t limit) {
    char c = type_code(&b->view);
    if (!((c == 'q' || c == 'l') && b->view.itemsize == 8) || b->view.strides[0] != 8) {
        PyErr_Format(PyExc_TypeError, "`%s` must be a contiguous int64 array", name);
        return -1;
    }
    if (b->view.shape[0] < need) {
        PyErr_Format(PyExc_ValueError, "`%s` has %zd entries; the call needs %zd", name,
                     b->view.shape[0], need);
        return -1;
    }
    const int64_t *m = (const int64_t *)b->view.buf;
    for (Py_ssize_t k = 0; k < need; k++)
        if (m[k] < -1 || m[k] >= limit) {
            PyErr_Format(PyExc_IndexError, "`%s`[%zd] = %lld is outside [-1, %zd)", name, k,
                         (long long)m[k], limit);
            return -1;
        }
    return 0;
}

static int check_pair(Py_ssize_t a, Py_ssize_t b, const char *name) {
    if (a < 1 || b < 1 || a > MAX_PARAM || b > MAX_PARAM) {
        PyErr_Format(PyExc_ValueError, "`%s` must be a pair of positive integers up to 2**40, "
                     "got (%zd, %zd)", name, a, b);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ the workspace */

typedef struct {
    Py_ssize_t phase_len, row_len, slots, ring_cells, direct_mapped;
    Py_ssize_t total; /* bytes, all parts */
} plan_t;

/* sizes of one call's workspace; -1 (with an exception) on overflow */
static int plan(plan_t *p, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t ow, Py_ssize_t itemsize,
                int separable) {
    Py_ssize_t reach_w = mul_add(kw - 1, dw, 0);
    Py_ssize_t span_h = mul_add(kh - 1, dh, 1);
    if (reach_w < 0 || span_h < 0) goto overflow;
    p->phase_len = mul_add(1, ow, CONVCLI_MAX_BLOCK_COLS + reach_w / sw);
    if (p->phase_len < 0) goto overflow;
    Py_ssize_t cells = mul_add(sw, p->phase_len, ROW_QUANTUM - 1);
    if (cells < 0) goto overflow;
    p->row_len = cells / ROW_QUANTUM * ROW_QUANTUM;
    /* a ring of the rows one block reads, reused by the next block, unless the stride
     * or dilation spreads them so far that fresh rows per block take less room */
    Py_ssize_t ring = mul_add(CONVCLI_BLOCK_ROWS - 1, sh, span_h);
    Py_ssize_t fresh = mul_add(CONVCLI_BLOCK_ROWS, kh, 0);
    if (ring < 0 || fresh < 0) goto overflow;
    p->direct_mapped = ring <= 2 * fresh;
    p->slots = p->direct_mapped ? ring : fresh;
    p->ring_cells = mul_add(p->slots, p->row_len, 0);
    Py_ssize_t taps = mul_add(kh, kw, kh);
    /* separable: BLOCK_ROWS rows of cells and one row of double running sums */
    Py_ssize_t mid = separable ? mul_add(CONVCLI_BLOCK_ROWS + (8 + itemsize - 1) / itemsize, p->row_len, 0) : 0;
    if (p->ring_cells < 0 || taps < 0 || mid < 0) goto overflow;
    Py_ssize_t total = mul_add(p->ring_cells + mid, itemsize, 0);
    Py_ssize_t small = mul_add(p->slots, 8, 0);                        /* tags */
    small = small < 0 ? -1 : mul_add(CONVCLI_BLOCK_ROWS * kh, sizeof(void *), small);
    small = small < 0 ? -1 : mul_add(taps, 4 * 8, small); /* tap lists, dense weights */
    small = small < 0 ? -1 : mul_add(kw, 2 * 8, small);   /* dense columns */
    small = small < 0 ? -1 : small + CONVCLI_BLOCK_ROWS * CONVCLI_MAX_BLOCK_COLS * 8;
    if (total < 0 || small < 0 || __builtin_add_overflow(total, small, &p->total)) goto overflow;
    return 0;
overflow:
    PyErr_SetString(PyExc_OverflowError, "the native workspace size overflows");
    return -1;
}

static void space_free(cc_space *s) {
    free(s->ring);
    free(s->tags);
    free(s->mid);
    free(s->sums);
    free((void *)s->ptrs);
    free(s->tap_row);
    free(s->tap_off);
    free(s->tap_w);
    free(s->col_row);
    free(s->col_w);
    free(s->tmp);
    free(s->dense_off);
    free(s->dense_w);
    memset(s, 0, sizeof(*s));
}

static int space_alloc(cc_space *s, const plan_t *p, Py_ssize_t kh, Py_ssize_t kw,
                       Py_ssize_t itemsize, int separable) {
    memset(s, 0, sizeof(*s));
    s->slots = p->slots;
    s->phase_len = p->phase_len;
    s->row_len = p->row_len;
    size_t taps = (size_t)(separable ? kw : kh * kw);
    s->ring = calloc((size_t)p->ring_cells, (size_t)itemsize);
    s->tags = malloc((size_t)p->slots * sizeof(int64_t));
    s->ptrs = malloc((size_t)(CONVCLI_BLOCK_ROWS * kh) * sizeof(void *));
    s->tap_row = malloc(taps * sizeof(ptrdiff_t));
    s->tap_off = malloc(taps * sizeof(ptrdiff_t));
    s->tap_w = malloc(taps * sizeof(double));
    s->tmp = malloc(CONVCLI_BLOCK_ROWS * CONVCLI_MAX_BLOCK_COLS * 8);
    int ok = s->ring && s->tags && s->ptrs && s->tap_row && s->tap_off && s->tap_w && s->tmp;
    if (separable) {
        s->mid = calloc((size_t)(CONVCLI_BLOCK_ROWS * p->row_len), (size_t)itemsize);
        s->sums = calloc((size_t)p->row_len, sizeof(double));
        s->col_row = malloc((size_t)kh * sizeof(ptrdiff_t));
        s->col_w = malloc((size_t)kh * sizeof(double));
        ok = ok && s->mid && s->sums && s->col_row && s->col_w;
    }
    if (!ok) {
        space_free(s);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < p->slots; k++) s->tags[k] = -1;
    return 0;
}

static double tap(const void *taps, char code, Py_ssize_t k) {
    if (!taps) return 1.0; /* pooling: every cell of the window */
    return code == 'f' ? (double)((const float *)taps)[k] : ((const double *)taps)[k];
}

/* all n taps equal and nonzero (a box factor) */
static int box(const void *taps, char code, Py_ssize_t n) {
    const double first = tap(taps, code, 0);
    for (Py_ssize_t k = 1; k < n; k++)
        if (tap(taps, code, k) != first) return 0;
    return first != 0.0;
}

/* the row-pass taps: nonzero entries of row `i` of a kh x kw weight table */
static void add_row_taps(cc_space *s, const cc_job *j, const void *taps, char code,
                         Py_ssize_t i, Py_ssize_t kw, Py_ssize_t base) {
    for (Py_ssize_t c = 0; c < kw; c++) {
        double w = tap(taps, code, base + c);
        if (w == 0.0) continue;
        Py_ssize_t reach = c * j->dw;
        s->tap_row[s->ntaps] = i;
        s->tap_off[s->ntaps] = (reach % j->sw) * s->phase_len + reach / j->sw;
        s->tap_w[s->ntaps] = w;
        s->ntaps++;
    }
}

/* the direct kernel's columns with a nonzero tap in any row, and the kh weights of
 * each, in the compute type: the table the kernels of 3, 5, 7, 9 or 11 rows read (rowsk) */
static int dense_taps(cc_space *s, const cc_job *j, char code) {
    const Py_ssize_t kh = j->kh, kw = j->kw;
    const size_t itemsize = code == 'f' ? 4 : 8;
    Py_ssize_t *col = malloc((size_t)kw * sizeof(Py_ssize_t));
    s->dense_off = malloc((size_t)kw * sizeof(ptrdiff_t));
    s->dense_w = malloc((size_t)(kh * kw) * itemsize);
    if (!col || !s->dense_off || !s->dense_w) {
        free(col);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t nd = 0;
    for (Py_ssize_t c = 0; c < kw; c++) {
        int used = 0;
        for (Py_ssize_t i = 0; i < kh && !used; i++) used = tap(j->taps, code, i * kw + c) != 0.0;
        if (!used) continue;
        Py_ssize_t reach = c * j->dw;
        s->dense_off[nd] = (reach % j->sw) * s->phase_len + reach / j->sw;
        col[nd++] = c;
    }
    for (Py_ssize_t i = 0; i < kh; i++)
        for (Py_ssize_t d = 0; d < nd; d++) {
            double w = tap(j->taps, code, i * kw + col[d]);
            if (code == 'f')
                ((float *)s->dense_w)[i * nd + d] = (float)w;
            else
                ((double *)s->dense_w)[i * nd + d] = w;
        }
    s->ndense = nd;
    free(col);
    return 0;
}

/* ------------------------------------------------------------------ the entry points */

/* the longest stretch of consecutive valid columns, copied with one memcpy */
static void longest_run(const int64_t *m, Py_ssize_t n, ptrdiff_t *a, ptrdiff_t *b) {
    *a = *b = 0;
    Py_ssize_t k = 0;
    while (k < n) {
        if (m[k] < 0) {
            k++;
            continue;
        }
        Py_ssize_t e = k + 1;
        while (e < n && m[e] == m[e - 1] + 1) e++;
        if (e - k > *b - *a) {
            *a = k;
            *b = e;
        }
        k = e;
    }
}

enum { DIRECT = 0, SEPARABLE = 1, POOL = 2 };

/* (largest, finite) from the largest sign-cleared bit pattern of float32 or float64 cells:
 * the patterns of one sign order as the numbers do, infinity and NaN above every finite */
static PyObject *scanned(uint64_t bits, char code) {
    double largest;
    int finite;
    if (code == 'f') {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        finite = b32 < 0x7f800000u;
        largest = f;
    } else {
        memcpy(&largest, &bits, sizeof largest);
        finite = bits < 0x7ff0000000000000ull;
    }
    return Py_BuildValue("(dO)", finite ? largest : 0.0, finite ? Py_True : Py_False);
}

static PyObject *run(PyObject *args, int kind) {
    PyObject *o_src, *o_rows, *o_cols, *o_w = NULL, *o_w2 = NULL, *o_out;
    Py_ssize_t sh, sw, dh = 1, dw = 1, r0, r1, ph = 0, pw = 0, running = 0;
    double pad_value;
    int accumulate = 0, op = 0, scan = 0;
    const char *op_name = NULL, *range_name = NULL;
    buf_t b[6];
    memset(b, 0, sizeof(b));
    int ok;
    const int separable = kind == SEPARABLE;
    if (kind == POOL) {
        ok = PyArg_ParseTuple(args, "OOOO(nn)(nn)sdnn:pool", &o_src, &o_rows, &o_cols, &o_out,
                              &ph, &pw, &sh, &sw, &op_name, &pad_value, &r0, &r1);
        if (ok) {
            op = strcmp(op_name, "max") == 0   ? CC_MAX
                 : strcmp(op_name, "min") == 0 ? CC_MIN
                 : strcmp(op_name, "sum") == 0 ? CC_SUM
                                               : 0;
            if (!op) {
                PyErr_Format(PyExc_ValueError, "`op` must be 'max', 'min' or 'sum', got '%s'",
                             op_name);
                return NULL;
            }
            if (check_pair(ph, pw, "size") < 0) return NULL;
        }
    } else if (separable)
        ok = PyArg_ParseTuple(args, "OOOOOO(nn)(nn)dnnp|pzn:correlate_separable", &o_src,
                              &o_rows, &o_cols, &o_w, &o_w2, &o_out, &sh, &sw, &dh, &dw,
                              &pad_value, &r0, &r1, &accumulate, &scan, &range_name, &running);
    else
        ok = PyArg_ParseTuple(args, "OOOOO(nn)(nn)dnnp|pz:correlate", &o_src, &o_rows, &o_cols,
                              &o_w, &o_out, &sh, &sw, &dh, &dw, &pad_value, &r0, &r1,
                              &accumulate, &scan, &range_name);
    if (!ok) return NULL;
    if (check_pair(sh, sw, "stride") < 0 || check_pair(dh, dw, "dilation") < 0) return NULL;

    cc_job j;
    memset(&j, 0, sizeof(j));
    cc_space s;
    memset(&s, 0, sizeof(s));
    char code;
    int out_u8 = 0, range_abs = 0;
    if (get(o_out, &b[0], "out", 1, 2) < 0) goto fail;
    if (kind != POOL && type_code(&b[0].view) == 'B' && b[0].view.itemsize == 1) {
        /* uint8 pixels out: the compute type is the taps' */
        const char *wname = separable ? "col_taps" : "weight";
        out_u8 = 1;
        if (get(o_w, &b[2], wname, 0, separable ? 1 : 2) < 0 ||
            check_float_item(&b[2].view, wname, &code) < 0)
            goto fail;
        if (accumulate) {
            PyErr_SetString(PyExc_ValueError, "uint8 `out` cannot accumulate");
            goto fail;
        }
        if (range_name && strcmp(range_name, "abs") == 0)
            range_abs = 1;
        else if (range_name && strcmp(range_name, "clip") != 0) {
            PyErr_Format(PyExc_ValueError, "`value_range` must be 'clip' or 'abs', got '%s'",
                         range_name);
            goto fail;
        }
    } else if (check_float_item(&b[0].view, "out", &code) < 0)
        goto fail;
    else if (range_name) {
        PyErr_SetString(PyExc_ValueError, "`value_range` is for uint8 `out` only");
        goto fail;
    }
    if (get(o_src, &b[1], "src", 0, 2) < 0) goto fail;
    /* the source: cells of the compute type, or uint8 / uint16 pixels converted as read */
    int src_type = CC_SAME;
    char sc = type_code(&b[1].view);
    if (sc == 'B' && b[1].view.itemsize == 1)
        src_type = CC_UINT8;
    else if (sc == 'H' && b[1].view.itemsize == 2)
        src_type = CC_UINT16;
    else if (check_float(&b[1], "src", code) < 0)
        goto fail;
    if (src_type != CC_SAME && scan) {
        PyErr_SetString(PyExc_ValueError, "`scan` reads float sources only");
        goto fail;
    }
    Py_ssize_t kh, kw;
    if (kind == POOL) {
        kh = ph;
        kw = pw;
    } else if (separable) {
        if ((!b[2].held && get(o_w, &b[2], "col_taps", 0, 1) < 0) ||
            check_float(&b[2], "col_taps", code) < 0 ||
            get(o_w2, &b[3], "row_taps", 0, 1) < 0 || check_float(&b[3], "row_taps", code) < 0)
            goto fail;
        if (!contiguous(&b[2].view) || !contiguous(&b[3].view)) {
            PyErr_SetString(PyExc_ValueError, "`col_taps` and `row_taps` must be contiguous");
            goto fail;
        }
        kh = b[2].view.shape[0];
        kw = b[3].view.shape[0];
    } else {
        if ((!b[2].held && get(o_w, &b[2], "weight", 0, 2) < 0) ||
            check_float(&b[2], "weight", code) < 0)
            goto fail;
        if (!contiguous(&b[2].view)) {
            PyErr_SetString(PyExc_ValueError, "`weight` must be C-contiguous");
            goto fail;
        }
        kh = b[2].view.shape[0];
        kw = b[2].view.shape[1];
    }
    Py_ssize_t oh = b[0].view.shape[0], ow = b[0].view.shape[1];
    Py_ssize_t itemsize = out_u8 ? (code == 'f' ? 4 : 8) : b[0].view.itemsize;
    if (b[0].view.strides[1] == 0 || (oh > 1 && b[0].view.strides[0] == 0)) {
        PyErr_SetString(PyExc_ValueError, "`out` must not repeat cells (a zero stride)");
        goto fail;
    }
    if (r0 < 0 || r1 < r0 || r1 > oh) {
        PyErr_Format(PyExc_IndexError, "output rows [%zd, %zd) are outside [0, %zd)", r0, r1, oh);
        goto fail;
    }
    Py_ssize_t need_rows = mul_add(oh - 1, sh, 0), need_cols = mul_add(ow - 1, sw, 0);
    Py_ssize_t reach_h = mul_add(kh - 1, dh, 1), reach_w = mul_add(kw - 1, dw, 1);
    if (need_rows < 0 || need_cols < 0 || reach_h < 0 || reach_w < 0 ||
        __builtin_add_overflow(need_rows, reach_h, &need_rows) ||
        __builtin_add_overflow(need_cols, reach_w, &need_cols)) {
        PyErr_SetString(PyExc_OverflowError, "the padded extent overflows");
        goto fail;
    }
    if (get(o_rows, &b[4], "rows", 0, 1) < 0 ||
        check_map(&b[4], "rows", need_rows, b[1].view.shape[0]) < 0)
        goto fail;
    if (get(o_cols, &b[5], "cols", 0, 1) < 0 ||
        check_map(&b[5], "cols", need_cols, b[1].view.shape[1]) < 0)
        goto fail;
    plan_t p;
    if (plan(&p, kh, kw, sh, sw, dh, dw, ow, itemsize, separable) < 0) goto fail;
    if (space_alloc(&s, &p, kh, kw, itemsize, separable) < 0) goto fail;

    j.src = (const char *)b[1].view.buf;
    j.h = b[1].view.shape[0];
    j.w = b[1].view.shape[1];
    j.src_s0 = b[1].view.strides[0];
    j.src_s1 = b[1].view.strides[1];
    j.rows = (const int64_t *)b[4].view.buf;
    j.cols = (const int64_t *)b[5].view.buf;
    longest_run(j.cols, need_cols, &j.run0, &j.run1);
    j.taps = kind == POOL ? NULL : b[2].view.buf;
    j.row_taps = separable ? b[3].view.buf : NULL;
    j.op = op;
    j.kh = kh;
    j.kw = kw;
    j.sh = sh;
    j.sw = sw;
    j.dh = dh;
    j.dw = dw;
    j.pad_value = pad_value;
    j.out = (char *)b[0].view.buf;
    j.oh = oh;
    j.ow = ow;
    j.out_s0 = b[0].view.strides[0];
    j.out_s1 = b[0].view.strides[1];
    j.r0 = r0;
    j.r1 = r1;
    j.accumulate = accumulate;
    j.scan = scan;
    j.src_type = src_type;
    j.out_u8 = out_u8;
    j.range_abs = range_abs;
    s.direct_mapped = (int)p.direct_mapped;
    if (separable) {
        for (Py_ssize_t i = 0; i < kh; i++) {
            double w = tap(j.taps, code, i);
            if (w == 0.0) continue;
            s.col_row[s.ncol_taps] = i;
            s.col_w[s.ncol_taps] = w;
            s.ncol_taps++;
        }
        add_row_taps(&s, &j, j.row_taps, code, 0, kw, 0);
        /* a box factor longer than `running` taps: a running sum (stride, dilation 1) */
        j.run_down = running > 0 && kh > running && sh == 1 && dh == 1 &&
                     box(j.taps, code, kh);
        j.run_across = running > 0 && kw > running && sw == 1 && dw == 1 &&
                       box(j.row_taps, code, kw);
    } else {
        for (Py_ssize_t i = 0; i < kh; i++) add_row_taps(&s, &j, j.taps, code, i, kw, i * kw);
        if (kind == DIRECT && kh <= 11 && kh % 2 && kh > 1 && dense_taps(&s, &j, code) < 0)
            goto fail;
    }
    const cc_variant *v = active;
    cc_kernel k = kind == POOL    ? v->pool[code == 'd']
                  : separable ? v->separable[code == 'd']
                              : v->direct[code == 'd'];
    Py_BEGIN_ALLOW_THREADS
    if (r1 > r0) k(&j, &s);
    Py_END_ALLOW_THREADS
    uint64_t bits = s.scan_bits;
    space_free(&s);
    release(b, 6);
    if (scan) return scanned(bits, code);
    Py_RETURN_NONE;
fail:
    space_free(&s);
    release(b, 6);
    return NULL;
}

PyDoc_STRVAR(correlate_doc,
"correlate(src, rows, cols, weight, out, stride, dilation, pad_value, r0, r1, accumulate,\n"
"          scan=False, value_range=None)\n"
"--\n\n"
"Output rows [r0, r1) of the 2-D cross-correlation of `src` (H, W) with\n"
"`weight` (kh, kw), into `out` (oh, ow); all float32 or all float64.\n"
"Padded row p reads source row rows[p] (int64, -1 = pad_value), padded\n"
"column q source column cols[q]; output (r, c) sums weight[i, j] times\n"
"padded cell (r*sh + i*dh, c*sw + j*dw). With `accumulate`, adds to `out`.\n"
"With `scan`, returns (largest, finite) as scan() does, over every cell of\n"
"each source row the outputs read (whole rows, as they are gathered).\n"
"`out` may be uint8 (weight float32 or float64, no `accumulate`): each sum v\n"
"is stored as numpy's rint(clip(v, 0, 255)), of |v| with value_range 'abs'.");

static PyObject *py_correlate(PyObject *self, PyObject *args) {
    (void)self;
    return run(args, DIRECT);
}

PyDoc_STRVAR(separable_doc,
"correlate_separable(src, rows, cols, col_taps, row_taps, out, stride, dilation,\n"
"                    pad_value, r0, r1, accumulate, scan=False, value_range=None,\n"
"                    running=0)\n"
"--\n\n"
"As correlate() with weight = outer(col_taps, row_taps): a column pass, then\n"
"a row pass, kh + kw taps per output instead of kh * kw. With `running` > 0,\n"
"a factor of more than `running` equal taps (a box) with stride and dilation 1\n"
"along its axis is summed as a running sum in float64.");

static PyObject *py_separable(PyObject *self, PyObject *args) {
    (void)self;
    return run(args, SEPARABLE);
}

PyDoc_STRVAR(pool_doc,
"pool(src, rows, cols, out, size, stride, op, pad_value, r0, r1)\n"
"--\n\n"
"Output rows [r0, r1) of `op` ('max', 'min' or 'sum') over each (kh, kw) =\n"
"`size` window of `src`, padded through the index maps as in correlate()\n"
"(cells mapped to -1 read `pad_value`), into `out`; float32 or float64.");

static PyObject *py_pool(PyObject *self, PyObject *args) {
    (void)self;
    return run(args, POOL);
}

PyDoc_STRVAR(workspace_doc,
"workspace_bytes(kh, kw, stride, dilation, out_width, itemsize, separable)\n"
"--\n\n"
"Bytes one correlate() call allocates besides its arguments.");

static PyObject *py_workspace(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t kh, kw, sh, sw, dh, dw, ow, itemsize;
    int separable;
    if (!PyArg_ParseTuple(args, "nn(nn)(nn)nnp:workspace_bytes", &kh, &kw, &sh, &sw, &dh, &dw,
                          &ow, &itemsize, &separable))
        return NULL;
    if (check_pair(kh, kw, "kernel size") < 0 || check_pair(sh, sw, "stride") < 0 ||
        check_pair(dh, dw, "dilation") < 0 || check_pair(ow, itemsize, "width and itemsize") < 0)
        return NULL;
    plan_t p;
    if (plan(&p, kh, kw, sh, sw, dh, dw, ow, itemsize, separable) < 0) return NULL;
    return PyLong_FromSsize_t(p.total);
}

static PyObject *py_supported(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    PyObject *names = PyList_New(0);
    const char *all[] = {"generic", "avx2", "avx512"};
    for (int i = 0; names && i < 3; i++) {
        if (!variant_named(all[i]) || !cpu_has(all[i])) continue;
        PyObject *s = PyUnicode_FromString(all[i]);
        if (!s || PyList_Append(names, s) < 0) {
            Py_XDECREF(s);
            Py_CLEAR(names);
            break;
        }
        Py_DECREF(s);
    }
    if (!names) return NULL;
    PyObject *t = PyList_AsTuple(names);
    Py_DECREF(names);
    return t;
}

static PyObject *py_isa(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(active->name);
}

static PyObject *py_use(PyObject *self, PyObject *arg) {
    (void)self;
    const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!name) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "use() takes a variant name");
        return NULL;
    }
    const cc_variant *v = variant_named(name);
    if (!v) {
        PyErr_Format(PyExc_ValueError, "unknown native variant %R (this build has: generic%s)",
                     arg,
#ifdef CONVCLI_X86
                     ", avx2, avx512"
#else
                     ""
#endif
        );
        return NULL;
    }
    if (!cpu_has(name)) {
        PyErr_Format(PyExc_ValueError, "this CPU does not support the native variant %R", arg);
        return NULL;
    }
    active = v;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ magnitude scan */

/* The largest |x| of n cells as its bit pattern with the sign cleared. For IEEE floats
 * of one sign the bit patterns order as the numbers do, and infinity and every NaN lie
 * above the largest finite number, so one integer max finds both the magnitude and any
 * non-finite cell in one pass (auto-vectorized; no float compare that NaN could skip). */
#define CC_SCAN(NAME, T, MASK, ATTR)                                      \
    ATTR static T NAME(const T *p, Py_ssize_t n) {                        \
        T m[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                \
        Py_ssize_t i = 0;                                                 \
        for (; i + 8 <= n; i += 8)                                        \
            for (int j = 0; j < 8; j++) {                                 \
                T v = p[i + j] & (MASK);                                  \
                m[j] = v > m[j] ? v : m[j];                               \
            }                                                             \
        for (; i < n; i++) {                                              \
            T v = p[i] & (MASK);                                          \
            m[0] = v > m[0] ? v : m[0];                                   \
        }                                                                 \
        for (int j = 1; j < 8; j++) m[0] = m[j] > m[0] ? m[j] : m[0];     \
        return m[0];                                                      \
    }

CC_SCAN(scan32_generic, uint32_t, 0x7fffffffu, )
CC_SCAN(scan64_generic, uint64_t, 0x7fffffffffffffffull, )
#ifdef CONVCLI_X86
CC_SCAN(scan32_avx2, uint32_t, 0x7fffffffu, __attribute__((target("avx2"))))
CC_SCAN(scan64_avx2, uint64_t, 0x7fffffffffffffffull, __attribute__((target("avx2"))))
#endif

PyDoc_STRVAR(scan_doc,
             "scan(x)\n--\n\n"
             "(largest, finite) of a C-contiguous float32 or float64 buffer in one pass:\n"
             "the largest absolute value, and False when any cell is NaN or infinite\n"
             "(largest is then meaningless). The GIL is released while it reads.");

static PyObject *py_scan(PyObject *self, PyObject *obj) {
    (void)self;
    Py_buffer v;
    if (PyObject_GetBuffer(obj, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "`x` must be a C-contiguous buffer (an array), got %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    char code;
    if (check_float_item(&v, "x", &code) < 0) {
        PyBuffer_Release(&v);
        return NULL;
    }
    Py_ssize_t n = v.len / v.itemsize;
    int fast = 0;
#ifdef CONVCLI_X86
    fast = active != &cc_generic;
#endif
    double largest;
    int finite;
    Py_BEGIN_ALLOW_THREADS
    if (code == 'f') {
        uint32_t bits = 0;
#ifdef CONVCLI_X86
        if (fast) bits = scan32_avx2((const uint32_t *)v.buf, n);
        else
#endif
            bits = scan32_generic((const uint32_t *)v.buf, n);
        float f;
        memcpy(&f, &bits, sizeof f);
        finite = bits < 0x7f800000u;
        largest = f;
    } else {
        uint64_t bits = 0;
#ifdef CONVCLI_X86
        if (fast) bits = scan64_avx2((const uint64_t *)v.buf, n);
        else
#endif
            bits = scan64_generic((const uint64_t *)v.buf, n);
        memcpy(&largest, &bits, sizeof largest);
        finite = bits < 0x7ff0000000000000ull;
    }
    Py_END_ALLOW_THREADS
    (void)fast;
    PyBuffer_Release(&v);
    return Py_BuildValue("(dO)", finite ? largest : 0.0, finite ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"scan", py_scan, METH_O, scan_doc},
    {"correlate", py_correlate, METH_VARARGS, correlate_doc},
    {"correlate_separable", py_separable, METH_VARARGS, separable_doc},
    {"pool", py_pool, METH_VARARGS, pool_doc},
    {"workspace_bytes", py_workspace, METH_VARARGS, workspace_doc},
    {"supported", py_supported, METH_NOARGS,
     "supported()\n--\n\nThe variants this build has and this CPU runs, slowest first."},
    {"isa", py_isa, METH_NOARGS, "isa()\n--\n\nThe variant in use."},
    {"use", py_use, METH_O, "use(name)\n--\n\nRun the variant `name` from now on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native",
    "convcli's native core: direct and separable 2-D correlation (see src/native).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    /* the fastest variant this CPU runs */
    if (cpu_has("avx512") && variant_named("avx512"))
        active = variant_named("avx512");
    else if (cpu_has("avx2") && variant_named("avx2"))
        active = variant_named("avx2");
    PyObject *m = PyModule_Create(&module);
#ifdef CONVCLI_AVX512_AS_AVX2
    const long lowered = 1;
#else
    const long lowered = 0;
#endif
    /* a test build: the avx512 variant's loops run on AVX2 (correlate.c) */
    if (m && PyModule_AddIntConstant(m, "AVX512_AS_AVX2", lowered) < 0) Py_CLEAR(m);
    return m;
}
