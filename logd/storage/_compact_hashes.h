/* The two hashes of logd.storage._compact (included once, by _compact.c): CRC-32C, equal to
 * crc32c.crc32c (hardware instruction where the CPU has SSE 4.2, slicing-by-8 elsewhere),
 * and MurmurHash3 x64_128 with seed 0, equal to mmh3.hash128. Written out because neither
 * package has a C API and a call into Python per batch or key would need the GIL;
 * tests/storage/test_compact_accel.py compares them with the packages.
 */
#ifndef LOGD_COMPACT_HASHES_H
#define LOGD_COMPACT_HASHES_H
#include <stdint.h>
#include <string.h>

/* ---- CRC-32C (Castagnoli), as crc32c.crc32c ------------------------------------------ */

static uint32_t crc_table[8][256];

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
        }
    }
}

static uint32_t
crc_soft(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n >= 8) { /* slicing-by-8 */
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
                             | (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF]
              ^ crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24]
              ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) {
        crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    }
    return ~crc;
}

/* crc(A || B) from crc(A) and crc(B) (zlib's crc32_combine): crc(A) times x^(8 len(B))
 * modulo the (reflected) polynomial, xor crc(B). Used to join the three interleaved
 * streams of crc_hw, with the shift for each block length computed once. */
static uint32_t
crc_multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) {
                break;
            }
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ 0x82F63B78u : b >> 1;
    }
    return p;
}

/* x^(8 n) modulo the polynomial: the operator that appends n zero bytes. */
static uint32_t
crc_zeros_op(size_t n)
{
    uint32_t square = 1u << 30, op = 1u << 31; /* x^1, x^0 */
    n *= 8;
    while (n) {
        if (n & 1) {
            op = crc_multmodp(square, op);
        }
        square = crc_multmodp(square, square);
        n >>= 1;
    }
    return op;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_CRC_HW 1
/* Three independent streams hide the instruction's 3-cycle latency (about 3x one
 * stream); blocks of LONG then SHORT bytes each, the rest one stream. A stream is joined
 * to the next by the operator "append a block of zeros", a linear map of the 32-bit
 * register applied through four byte tables (Mark Adler's crc32c.c does the same). */
#define CRC_LONG 4096
#define CRC_SHORT 256
static uint32_t crc_long_table[4][256], crc_short_table[4][256];

static void
crc_shift_table(uint32_t table[4][256], size_t block)
{
    uint32_t op = crc_zeros_op(block);
    for (uint32_t i = 0; i < 256; i++) {
        for (int k = 0; k < 4; k++) {
            table[k][i] = crc_multmodp(op, i << (8 * k));
        }
    }
}

static inline uint32_t
crc_shift(uint32_t table[4][256], uint32_t c)
{
    return table[0][c & 0xFF] ^ table[1][(c >> 8) & 0xFF] ^ table[2][(c >> 16) & 0xFF]
           ^ table[3][c >> 24];
}

__attribute__((target("sse4.2"))) static inline uint64_t
crc_hw_run(uint64_t c, const unsigned char *p, size_t n)
{
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) {
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    }
    return c32;
}

__attribute__((target("sse4.2"))) static inline uint64_t
crc_hw_3way(uint64_t c0, const unsigned char **pp, size_t *np, size_t block,
            uint32_t table[4][256])
{
    const unsigned char *p = *pp;
    size_t n = *np;
    while (n >= 3 * block) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < block; i += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + i, 8);
            memcpy(&v1, p + block + i, 8);
            memcpy(&v2, p + 2 * block + i, 8);
            c0 = __builtin_ia32_crc32di(c0, v0);
            c1 = __builtin_ia32_crc32di(c1, v1);
            c2 = __builtin_ia32_crc32di(c2, v2);
        }
        c0 = crc_shift(table, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = crc_shift(table, (uint32_t)c0) ^ (uint32_t)c2;
        p += 3 * block;
        n -= 3 * block;
    }
    *pp = p;
    *np = n;
    return c0;
}

__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = (uint32_t)~crc;
    c = crc_hw_3way(c, &p, &n, CRC_LONG, crc_long_table);
    c = crc_hw_3way(c, &p, &n, CRC_SHORT, crc_short_table);
    return ~(uint32_t)crc_hw_run(c, p, n);
}
#endif

static int use_hw = 0;

/* Fills the tables and picks the hardware CRC when the CPU has it. */
static void
crc_setup(void)
{
    crc_init();
#ifdef HAVE_CRC_HW
    crc_shift_table(crc_long_table, CRC_LONG);
    crc_shift_table(crc_short_table, CRC_SHORT);
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2");
#endif
}


static uint32_t
crc32c(const unsigned char *p, size_t n)
{
#ifdef HAVE_CRC_HW
    if (use_hw) {
        return crc_hw(0, p, n);
    }
#endif
    return crc_soft(0, p, n);
}

/* ---- MurmurHash3 x64_128 (Austin Appleby's, public domain), seed 0, as mmh3.hash128 ---- */

static inline uint64_t
rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t
fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t
load64le(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24
           | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48
           | (uint64_t)p[7] << 56;
}

static void
murmur3_128(const unsigned char *data, size_t len, uint64_t out[2])
{
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    uint64_t h1 = 0, h2 = 0, k1, k2;
    size_t nblocks = len / 16;
    for (size_t i = 0; i < nblocks; i++) {
        k1 = load64le(data + i * 16);
        k2 = load64le(data + i * 16 + 8);
        k1 *= c1; k1 = rotl64(k1, 31); k1 *= c2; h1 ^= k1;
        h1 = rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
        k2 *= c2; k2 = rotl64(k2, 33); k2 *= c1; h2 ^= k2;
        h2 = rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
    }
    const unsigned char *tail = data + nblocks * 16;
    k1 = k2 = 0;
    switch (len & 15) {
    case 15: k2 ^= (uint64_t)tail[14] << 48; /* fall through */
    case 14: k2 ^= (uint64_t)tail[13] << 40; /* fall through */
    case 13: k2 ^= (uint64_t)tail[12] << 32; /* fall through */
    case 12: k2 ^= (uint64_t)tail[11] << 24; /* fall through */
    case 11: k2 ^= (uint64_t)tail[10] << 16; /* fall through */
    case 10: k2 ^= (uint64_t)tail[9] << 8; /* fall through */
    case 9:
        k2 ^= (uint64_t)tail[8];
        k2 *= c2; k2 = rotl64(k2, 33); k2 *= c1; h2 ^= k2;
        /* fall through */
    case 8: k1 ^= (uint64_t)tail[7] << 56; /* fall through */
    case 7: k1 ^= (uint64_t)tail[6] << 48; /* fall through */
    case 6: k1 ^= (uint64_t)tail[5] << 40; /* fall through */
    case 5: k1 ^= (uint64_t)tail[4] << 32; /* fall through */
    case 4: k1 ^= (uint64_t)tail[3] << 24; /* fall through */
    case 3: k1 ^= (uint64_t)tail[2] << 16; /* fall through */
    case 2: k1 ^= (uint64_t)tail[1] << 8; /* fall through */
    case 1:
        k1 ^= (uint64_t)tail[0];
        k1 *= c1; k1 = rotl64(k1, 31); k1 *= c2; h1 ^= k1;
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

#endif
