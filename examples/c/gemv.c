/*
 * gemv.c: a C program using Tessera through include/tessera.h.
 *
 * Opens a .tsr file, lists its tensors, and for each one runs gemv and gemm (m = 2) on both
 * matmul paths and dequantizes row 0, printing every f32 result as the hex of its bits. Along the
 * way it checks, and fails (exit 1) otherwise, that:
 *   - splitting the output rows over two pthreads (tessera_gemm_rows) gives the same bits as one
 *     tessera_gemm call;
 *   - activations quantized once (tessera_activations_quantize + tessera_gemm_quantized) give the
 *     same bits as the integer-path gemm;
 *   - every ISA tier this CPU runs gives the same bits (tessera_isa_force).
 * .ci/capi.sh diffs stdout with what the Rust API prints for the same file (make_example_tsr).
 *
 * Build (from the repository root, after `cargo build --release -p tessera-capi`):
 *   cc -std=c11 -Wall -Wextra -Werror -Iinclude examples/c/gemv.c \
 *      target/release/libtessera_capi.a -lpthread -ldl -lm -o gemv
 * Run: ./gemv example.tsr
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

/* Reports a failed call with the library's message and exits. */
static void check(TesseraStatus status, const char *what) {
  if (status != TESSERA_STATUS_OK) {
    fprintf(stderr, "%s failed: %s: %s\n", what, tessera_status_name((int32_t)status),
            tessera_last_error_message());
    exit(1);
  }
}

static void *checked_malloc(size_t count, size_t size) {
  if (count != 0 && size > SIZE_MAX / count) {
    fprintf(stderr, "allocation of %zu x %zu bytes overflows\n", count, size);
    exit(1);
  }
  void *p = malloc(count * size + 1); /* +1: never malloc(0) */
  if (p == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return p;
}

/* Activation i of row r: small integers over 32, exact in float (same formula as the Rust side). */
static float activation(size_t r, size_t i) {
  return (float)((i * 37 + r * 53 + 11) % 101) / 32.0f - 50.0f / 32.0f;
}

static void print_hex(const float *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, &v[i], sizeof bits);
    printf(" %08" PRIx32, bits);
  }
  printf("\n");
}

/* One thread's share of a gemm: output rows [start, end). */
struct share {
  const TesseraWeights *w;
  const float *x;
  size_t x_len, m, start, end;
  uint32_t path;
  float *y;
  TesseraStatus status;
  char message[512]; /* the message is per thread: copy it before the thread ends */
};

static void *run_share(void *arg) {
  struct share *s = arg;
  s->status = tessera_gemm_rows(s->w, s->x, s->x_len, s->m, s->path, s->start, s->end, s->y,
                                s->m * (s->end - s->start));
  snprintf(s->message, sizeof s->message, "%s", tessera_last_error_message());
  return NULL;
}

/* gemm over two threads, assembled into y (m x rows, row-major). */
static void gemm_two_threads(const TesseraWeights *w, const float *x, size_t x_len, size_t m,
                             size_t rows, uint32_t path, float *y) {
  size_t half = rows / 2;
  struct share shares[2] = {
      {w, x, x_len, m, 0, half, path, checked_malloc(m * half, sizeof(float)), 0, {0}},
      {w, x, x_len, m, half, rows, path, checked_malloc(m * (rows - half), sizeof(float)), 0, {0}},
  };
  pthread_t threads[2];
  for (int t = 0; t < 2; t++) {
    if (pthread_create(&threads[t], NULL, run_share, &shares[t]) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(1);
    }
  }
  for (int t = 0; t < 2; t++) {
    pthread_join(threads[t], NULL);
    if (shares[t].status != TESSERA_STATUS_OK) {
      fprintf(stderr, "tessera_gemm_rows (thread %d) failed: %s: %s\n", t,
              tessera_status_name((int32_t)shares[t].status), shares[t].message);
      exit(1);
    }
  }
  for (int t = 0; t < 2; t++) {
    size_t len = shares[t].end - shares[t].start;
    for (size_t i = 0; i < m; i++) {
      memcpy(&y[i * rows + shares[t].start], &shares[t].y[i * len], len * sizeof(float));
    }
    free(shares[t].y);
  }
}

static void same_bits(const float *a, const float *b, size_t n, const char *what,
                      const char *name) {
  if (memcmp(a, b, n * sizeof(float)) != 0) {
    fprintf(stderr, "%s: %s differs from tessera_gemm\n", name, what);
    exit(1);
  }
}

static void run_tensor(const TesseraFile *file, size_t index) {
  TesseraTensorInfo info;
  check(tessera_file_tensor_info(file, index, &info), "tessera_file_tensor_info");
  printf("tensor %s %s ", info.name, info.encoding_name);
  for (uint32_t d = 0; d < info.rank; d++) {
    printf(d ? "x%" PRIu64 : "%" PRIu64, info.shape[d]);
  }
  printf(" sparse=%d path=%s\n", info.sparse ? 1 : 0,
         info.default_path == TESSERA_PATH_INTEGER ? "integer" : "float");

  TesseraWeights *w = NULL;
  check(tessera_weights_from_file(file, index, &w), "tessera_weights_from_file");
  size_t rows = 0, k = 0;
  check(tessera_weights_shape(w, &rows, &k), "tessera_weights_shape");

  const size_t m = 2;
  float *x = checked_malloc(m * k, sizeof(float));
  for (size_t j = 0; j < m * k; j++) {
    x[j] = activation(j / k, j % k);
  }
  float *y = checked_malloc(m * rows, sizeof(float));
  float *check_y = checked_malloc(m * rows, sizeof(float));

  const uint32_t paths[2] = {TESSERA_PATH_INTEGER, TESSERA_PATH_FLOAT};
  const char *path_names[2] = {"integer", "float"};
  for (int p = 0; p < 2; p++) {
    /* gemv: the first activation row. */
    TesseraStatus s = tessera_gemv(w, x, k, paths[p], y, rows);
    if (s == TESSERA_STATUS_UNSUPPORTED) {
      printf("gemv %s %s error\n", info.name, path_names[p]);
      printf("gemm %s %s error\n", info.name, path_names[p]);
      continue;
    }
    check(s, "tessera_gemv");
    printf("gemv %s %s", info.name, path_names[p]);
    print_hex(y, rows);

    /* gemm, then the same product three other ways. */
    check(tessera_gemm(w, x, m * k, m, paths[p], y, m * rows), "tessera_gemm");
    gemm_two_threads(w, x, m * k, m, rows, paths[p], check_y);
    same_bits(y, check_y, m * rows, "two-thread tessera_gemm_rows", info.name);
    if (paths[p] == TESSERA_PATH_INTEGER) {
      TesseraActivations *xq = NULL;
      check(tessera_activations_quantize(x, m * k, m, k, &xq), "tessera_activations_quantize");
      check(tessera_gemm_quantized(w, xq, check_y, m * rows), "tessera_gemm_quantized");
      tessera_activations_free(xq);
      same_bits(y, check_y, m * rows, "tessera_gemm_quantized", info.name);
    }
    for (size_t t = 0; t < tessera_isa_count(); t++) {
      if (!tessera_isa_is_available(t)) {
        continue;
      }
      check(tessera_isa_force(tessera_isa_name(t)), "tessera_isa_force");
      check(tessera_gemm(w, x, m * k, m, paths[p], check_y, m * rows), "tessera_gemm (forced)");
      same_bits(y, check_y, m * rows, tessera_isa_name(t), info.name);
    }
    check(tessera_isa_force("auto"), "tessera_isa_force(auto)");
    printf("gemm %s %s", info.name, path_names[p]);
    print_hex(y, m * rows);
  }

  float *values = checked_malloc(k, sizeof(float));
  check(tessera_dequantize_rows(w, 0, 1, values, k), "tessera_dequantize_rows");
  printf("dequant %s", info.name);
  print_hex(values, k < 16 ? k : 16);

  free(values);
  free(check_y);
  free(y);
  free(x);
  tessera_weights_free(w);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE.tsr\n", argv[0]);
    return 2;
  }
  TesseraFile *file = NULL;
  check(tessera_file_open(argv[1], TESSERA_OPEN_VERIFY, &file), "tessera_file_open");
  size_t count = 0;
  check(tessera_file_tensor_count(file, &count), "tessera_file_tensor_count");
  printf("tensors %zu\n", count);
  for (size_t i = 0; i < count; i++) {
    run_tensor(file, i);
  }
  tessera_file_free(file);

  const char *tier = NULL;
  check(tessera_isa_current(&tier), "tessera_isa_current");
  fprintf(stderr, "ok: %zu tensors, library %s, tier %s\n", count, tessera_version(), tier);
  return 0;
}
