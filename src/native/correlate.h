/* convcli native core: what the Python glue (module.c) hands the kernels
 * (correlate.c). Everything here was validated by the glue before the call;
 * the kernels trust it and never touch Python objects (they run without the GIL). */
#ifndef CONVCLI_CORRELATE_H
#define CONVCLI_CORRELATE_H

#include <stddef.h>
#include <stdint.h>

/* Output columns per block in the widest variant: the slack every padded row
 * keeps after its last real cell, so a block's vector loads stay inside it. */
#define CONVCLI_MAX_BLOCK_COLS 64
/* Output rows per block, in every variant. */
#define CONVCLI_BLOCK_ROWS 4

typedef struct {
    /* source plane: h x w cells, byte strides (any sign) */
    const char *src;
    ptrdiff_t h, w, src_s0, src_s1;
    /* index maps: padded row/column -> source row/column, -1 for the constant */
    const int64_t *rows, *cols;
    /* the longest stretch [run0, run1) of cols that is consecutive (copied at once) */
    ptrdiff_t run0, run1;
    /* direct: kh x kw taps (row-major); separable: kh column taps, kw row taps */
    const void *taps, *row_taps;
    ptrdiff_t kh, kw;
    ptrdiff_t sh, sw, dh, dw;
    double pad_value;
    /* output: oh x ow cells, byte strides; rows [r0, r1) are computed */
    char *out;
    ptrdiff_t oh, ow, out_s0, out_s1;
    ptrdiff_t r0, r1;
    int accumulate;
    int op; /* pooling: CC_MAX, CC_MIN or CC_SUM over the kh x kw window */
    int scan; /* also find the largest magnitude of every source row read (scan_bits) */
    int src_type; /* CC_SAME: cells of the compute type; CC_UINT8, CC_UINT16: converted */
    /* out_u8: `out` holds uint8 pixels, each sum stored as numpy's
     * rint(clip(v, 0, 255)) (range_abs: of |v|) would store it; else compute-type cells */
    int out_u8, range_abs;
    /* separable: the column (run_down) or row (run_across) factor is a box of equal taps,
     * summed as a running sum (correlate.c, running_*) */
    int run_down, run_across;
} cc_job;

enum { CC_MAX = 1, CC_MIN = 2, CC_SUM = 3 };
enum { CC_SAME = 0, CC_UINT8 = 1, CC_UINT16 = 2 };

typedef struct {
    char *ring;        /* slots x row_len cells, zero beyond each row's real cells */
    int64_t *tags;     /* padded row held by each slot, -1 for none */
    ptrdiff_t slots, phase_len, row_len;
    int direct_mapped; /* slot = row mod slots (a ring), else one slot per block row and tap */
    char *mid;         /* separable: BLOCK_ROWS rows of row_len cells */
    double *sums;      /* separable: row_len running column sums */
    const void **ptrs; /* BLOCK_ROWS x kh row pointers */
    /* nonzero taps: (row, offset in a padded row, weight as double) */
    ptrdiff_t ntaps;
    ptrdiff_t *tap_row, *tap_off;
    double *tap_w;
    ptrdiff_t ncol_taps; /* separable: nonzero column taps */
    ptrdiff_t *col_row;
    double *col_w;
    char *tmp;          /* BLOCK_ROWS x MAX_BLOCK_COLS cells for partial stores */
    const char *fresh;  /* the source row the last ring_row call read, or NULL */
    uint64_t scan_bits; /* with scan: the largest sign-cleared bit pattern read */
    /* direct: the kernel's columns with a nonzero tap (offsets in a padded row), and
     * each row's weights in them: kh x ndense cells of the compute type */
    ptrdiff_t ndense;
    ptrdiff_t *dense_off;
    char *dense_w;
} cc_space;

typedef void (*cc_kernel)(const cc_job *, cc_space *);

typedef struct {
    const char *name;
    cc_kernel direct[2];    /* [float32, float64] */
    cc_kernel separable[2];
    cc_kernel pool[2];
} cc_variant;

extern const cc_variant cc_generic;
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define CONVCLI_X86 1
extern const cc_variant cc_avx2;
extern const cc_variant cc_avx512;
#endif

#endif
