/* logd.storage._compact: the log cleaner's per-record work in C (issue 16).
 *
 * The pure-Python cleaner (logd.storage.compactor with the dict OffsetMap) stays the
 * reference; tests/storage/test_compact_accel.py checks that both write byte-identical
 * segments. This module holds:
 *
 *  - an offset map in a caller-owned bytearray (Kafka's SkimpyOffsetMap): slots of 24
 *    bytes -- a 16-byte MurmurHash3 x64_128 digest of the key, then the offset + 1 as a
 *    native int64 (0: empty slot) -- probed linearly;
 *  - map_scan / filter_scan: loops over the whole batches of a read window (CRC-32C check,
 *    header checks, key digests, keep/drop of each record, the rewrite of an uncompressed
 *    batch); they run with the GIL released, so the cleaner thread does not slow producers
 *    down while it works. A compressed batch stops the loop: Python decompresses it and
 *    calls map_records / filter_records on its records region.
 *
 * MurmurHash3 and CRC-32C are written out here rather than called in mmh3 / crc32c: those
 * packages offer no C API, and a call into Python per key or batch would need the GIL.
 * Their results equal mmh3.hash128 and crc32c.crc32c (the tests compare them).
 *
 * Every length is checked against its end before anything is read; a record that does not
 * parse makes the call raise the error class passed in (CorruptRecordError). Callers own
 * the buffers and use them from one thread (the cleaner's).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define HEADER_SIZE 61
#define LOG_OVERHEAD 12
#define CRC_START 21
#define CODEC_MASK 0x07
#define ATTR_LOG_APPEND_TIME 0x08
#define ATTR_CONTROL 0x20
#define SLOT 24

/* Why a scan stopped (the Python side names them). */
enum { END = 0, COMPRESSED = 1, MAP_FULL = 2, BAD_CRC = 3, BAD_LENGTH = 4, CORRUPT = 5, TOO_SMALL = 6 };

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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_CRC_HW 1
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = ~crc;
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
    return ~c32;
}
#endif

static int use_hw = 0;

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

/* ---- the offset map ------------------------------------------------------------------ */

typedef struct {
    unsigned char *slots;
    Py_ssize_t nslots;
    Py_ssize_t entries;
} Map;

/* The slot holding digest d, or the empty slot where it goes. nslots > entries always. */
static unsigned char *
map_slot(const Map *m, const uint64_t d[2])
{
    Py_ssize_t i = (Py_ssize_t)(d[0] % (uint64_t)m->nslots);
    for (;;) {
        unsigned char *s = m->slots + i * SLOT;
        int64_t stored;
        memcpy(&stored, s + 16, 8);
        if (stored == 0 || memcmp(s, d, 16) == 0) {
            return s;
        }
        if (++i == m->nslots) {
            i = 0;
        }
    }
}

static void
map_put(Map *m, const unsigned char *key, size_t len, int64_t offset)
{
    uint64_t d[2];
    murmur3_128(key, len, d);
    unsigned char *s = map_slot(m, d);
    int64_t stored;
    memcpy(&stored, s + 16, 8);
    if (stored == 0) {
        memcpy(s, d, 16);
        m->entries++;
    }
    stored = offset + 1;
    memcpy(s + 16, &stored, 8);
}

static int64_t
map_get(const Map *m, const unsigned char *key, size_t len)
{
    uint64_t d[2];
    int64_t stored;
    murmur3_128(key, len, d);
    memcpy(&stored, map_slot(m, d) + 16, 8);
    return stored - 1;
}

/* ---- records ------------------------------------------------------------------------- */

static inline int32_t
be32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static inline int64_t
be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)(uint32_t)be32(p) << 32 | (uint32_t)be32(p + 4));
}

static inline void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline void
put_be64(unsigned char *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* A zigzag varint (<= max_bytes) at *pos before end; 0, or -1 when it does not parse. */
static int
varint(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t end, int max_bytes, int64_t *out)
{
    uint64_t raw = 0;
    int shift = 0;
    Py_ssize_t p = *pos;
    for (int i = 0; i < max_bytes; i++) {
        if (p >= end) {
            return -1;
        }
        uint64_t b = buf[p++];
        raw |= (b & 0x7F) << shift;
        if (b < 0x80) {
            *out = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
            *pos = p;
            return 0;
        }
        shift += 7;
    }
    return -1;
}

/* One record's parts: where it starts and ends, its offset and timestamp deltas, its key
 * (NULL: none) and whether its value is null. */
typedef struct {
    Py_ssize_t start, end;
    int64_t ts_delta, offset_delta;
    const unsigned char *key;
    Py_ssize_t key_len;
    int null_value;
} Rec;

static int
parse_record(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t end, Rec *r)
{
    int64_t length, klen, vlen;
    r->start = *pos;
    if (varint(buf, pos, end, 5, &length) < 0 || length < 0 || length > end - *pos) {
        return -1;
    }
    r->end = *pos + length;
    Py_ssize_t p = *pos + 1; /* attributes */
    if (p > r->end || varint(buf, &p, r->end, 10, &r->ts_delta) < 0
        || varint(buf, &p, r->end, 5, &r->offset_delta) < 0
        || varint(buf, &p, r->end, 5, &klen) < 0 || klen < -1 || klen > r->end - p) {
        return -1;
    }
    r->key = klen < 0 ? NULL : buf + p;
    r->key_len = klen < 0 ? 0 : (Py_ssize_t)klen;
    p += r->key_len;
    if (varint(buf, &p, r->end, 5, &vlen) < 0 || vlen < -1 || vlen > r->end - p) {
        return -1;
    }
    r->null_value = vlen < 0;
    *pos = r->end;
    return 0;
}

/* Maps the keys of an uncompressed records region; 0, or -1 when a record does not parse. */
static int
map_region(Map *m, const unsigned char *buf, Py_ssize_t len, int32_t count, int64_t base)
{
    Py_ssize_t pos = 0;
    Rec r;
    for (int32_t i = 0; i < count; i++) {
        if (parse_record(buf, &pos, len, &r) < 0) {
            return -1;
        }
        if (r.key != NULL) {
            map_put(m, r.key, (size_t)r.key_len, base + r.offset_delta);
        }
    }
    return pos == len ? 0 : -1;
}

/* The cleaner's rule for one pass (logd.storage.compactor._Keeper). */
typedef struct {
    Map map;
    int64_t map_end;
    int drop_tombstones;
    Py_ssize_t tombstones_kept;
} Rule;

static int
keep(Rule *k, const Rec *r, int64_t offset)
{
    if (r->key == NULL) {
        return 0;
    }
    if (offset >= k->map_end) {
        return 1;
    }
    if (map_get(&k->map, r->key, (size_t)r->key_len) > offset) {
        return 0;
    }
    if (r->null_value) {
        if (k->drop_tombstones) {
            return 0;
        }
        k->tombstones_kept++;
    }
    return 1;
}

/* Copies the kept records of a region to out; their count (-1: a record does not parse),
 * and the largest kept timestamp delta in *max_delta. */
static int32_t
filter_region(Rule *k, const unsigned char *buf, Py_ssize_t len, int32_t count, int64_t base,
              unsigned char *out, Py_ssize_t *out_len, int64_t *max_delta)
{
    Py_ssize_t pos = 0, n = 0;
    int32_t kept = 0;
    Rec r;
    for (int32_t i = 0; i < count; i++) {
        if (parse_record(buf, &pos, len, &r) < 0) {
            return -1;
        }
        if (keep(k, &r, base + r.offset_delta)) {
            memcpy(out + n, buf + r.start, (size_t)(r.end - r.start));
            n += r.end - r.start;
            if (kept == 0 || r.ts_delta > *max_delta) {
                *max_delta = r.ts_delta;
            }
            kept++;
        }
    }
    if (pos != len) {
        return -1;
    }
    *out_len = n;
    return kept;
}

/* ---- the scans over a read window ---------------------------------------------------- */

/* Checks the batch at pos: BAD_LENGTH, BAD_CRC, or END with *size set; -1 when it is not
 * whole in the window (the caller reads more). */
static int
check_batch(const unsigned char *w, Py_ssize_t len, Py_ssize_t pos, Py_ssize_t *size)
{
    if (len - pos < HEADER_SIZE) {
        return -1;
    }
    int32_t length = be32(w + pos + 8);
    if (length < HEADER_SIZE - LOG_OVERHEAD) {
        return BAD_LENGTH;
    }
    *size = (Py_ssize_t)length + LOG_OVERHEAD;
    if (*size > len - pos) {
        return -1;
    }
    uint32_t crc = (uint32_t)be32(w + pos + 17);
    if (crc32c(w + pos + CRC_START, (size_t)(*size - CRC_START)) != crc) {
        return BAD_CRC;
    }
    return END;
}

static int
get_map(PyObject *table, Py_buffer *view, Py_ssize_t entries, Map *m)
{
    if (PyObject_GetBuffer(table, view, PyBUF_WRITABLE) < 0) {
        return -1;
    }
    m->slots = view->buf;
    m->nslots = view->len / SLOT;
    m->entries = entries;
    if (m->nslots < 1 || entries < 0 || entries >= m->nslots) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "the offset map table is too small or full");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(map_scan_doc,
"map_scan(window, pos, table, entries, capacity, first_dirty)\n"
"    -> (pos, entries, end, status)\n\n"
"Maps the keys of the whole batches of window from pos (compactor._build_map's loop):\n"
"batches ending below first_dirty are skipped, control batches are not mapped. Stops at\n"
"the first batch that is not whole (END), too big for the map's room\n"
"(MAP_FULL; TOO_SMALL: more keys than the whole map), damaged (BAD_CRC, BAD_LENGTH)\n"
"or not parsing (CORRUPT), or compressed (COMPRESSED, with room); pos is that batch's.\n"
"end: last offset + 1 of the last batch passed at or above first_dirty, else -1.");

static PyObject *
map_scan(PyObject *self, PyObject *args)
{
    Py_buffer win, tab;
    Py_ssize_t pos, entries, capacity, size = 0;
    long long first_dirty;
    PyObject *table;
    Map m;
    if (!PyArg_ParseTuple(args, "y*nOnnL:map_scan", &win, &pos, &table, &entries, &capacity,
                          &first_dirty)) {
        return NULL;
    }
    if (pos < 0 || pos > win.len || get_map(table, &tab, entries, &m) < 0) {
        PyBuffer_Release(&win);
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "bad position");
    }
    if (capacity >= m.nslots) {
        capacity = m.nslots - 1;
    }
    const unsigned char *w = win.buf;
    int status = END;
    int64_t end = -1;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        int checked = check_batch(w, win.len, pos, &size);
        if (checked != END) {
            status = checked < 0 ? END : checked;
            break;
        }
        const unsigned char *b = w + pos;
        int64_t base = be64(b);
        int64_t last = base + be32(b + 23);
        int attributes = (b[21] << 8) | b[22];
        int32_t count = be32(b + 57);
        if (last >= first_dirty && !(attributes & ATTR_CONTROL)) {
            if (m.entries && (count < 0 || m.entries + count > capacity)) {
                status = MAP_FULL;
                break;
            }
            if (count < 0 || count >= m.nslots) { /* one batch more than the whole map */
                status = TOO_SMALL;
                break;
            }
            if (attributes & CODEC_MASK) {
                status = COMPRESSED;
                break;
            }
            if (map_region(&m, b + HEADER_SIZE, size - HEADER_SIZE, count, base) < 0) {
                status = CORRUPT;
                break;
            }
        }
        if (last >= first_dirty) {
            end = last + 1;
        }
        pos += size;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&win);
    PyBuffer_Release(&tab);
    return Py_BuildValue("nnLi", pos, m.entries, (long long)end, status);
}

PyDoc_STRVAR(map_records_doc,
"map_records(data, count, base_offset, table, entries) -> entries\n\n"
"Maps the keys of one (decompressed) records region; raises error when it does not parse.");

static PyObject *
map_records(PyObject *self, PyObject *args)
{
    Py_buffer data, tab;
    int count;
    long long base;
    Py_ssize_t entries;
    PyObject *table, *error;
    Map m;
    if (!PyArg_ParseTuple(args, "y*iLOnO:map_records", &data, &count, &base, &table, &entries,
                          &error)) {
        return NULL;
    }
    if (get_map(table, &tab, entries, &m) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    int rc;
    if (count < 0 || m.entries + count >= m.nslots) {
        rc = -2;
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        rc = map_region(&m, data.buf, data.len, count, base);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&tab);
    if (rc == -2) {
        return PyErr_Format(PyExc_ValueError, "no room for %d keys in the offset map", count);
    }
    if (rc < 0) {
        return PyErr_Format(error, "a record of the batch at offset %lld does not parse", base);
    }
    return PyLong_FromSsize_t(m.entries);
}

PyDoc_STRVAR(map_get_doc, "map_get(table, key) -> the offset the map holds for key, or -1.");

static PyObject *
map_get_py(PyObject *self, PyObject *args)
{
    Py_buffer tab, key;
    Map m;
    PyObject *table;
    if (!PyArg_ParseTuple(args, "Oy*:map_get", &table, &key)) {
        return NULL;
    }
    if (get_map(table, &tab, 0, &m) < 0) {
        PyBuffer_Release(&key);
        return NULL;
    }
    int64_t offset = map_get(&m, key.buf, (size_t)key.len);
    PyBuffer_Release(&tab);
    PyBuffer_Release(&key);
    return PyLong_FromLongLong(offset);
}

PyDoc_STRVAR(digest_doc, "digest(key) -> the 16 bytes of MurmurHash3 x64_128 (h1, h2 little-endian).");

static PyObject *
digest_py(PyObject *self, PyObject *args)
{
    Py_buffer key;
    uint64_t d[2];
    unsigned char out[16];
    if (!PyArg_ParseTuple(args, "y*:digest", &key)) {
        return NULL;
    }
    murmur3_128(key.buf, (size_t)key.len, d);
    PyBuffer_Release(&key);
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(d[0] >> (8 * i));
        out[8 + i] = (unsigned char)(d[1] >> (8 * i));
    }
    return PyBytes_FromStringAndSize((const char *)out, 16);
}

PyDoc_STRVAR(crc_doc, "crc32c(data) -> CRC-32C of data, as crc32c.crc32c.");

static PyObject *
crc_py(PyObject *self, PyObject *args)
{
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*:crc32c", &data)) {
        return NULL;
    }
    uint32_t crc = crc32c(data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(crc);
}

/* Writes the batch at b with only the records its rule keeps to out (at most its size);
 * returns the bytes written (0: none kept and not retained; -1: does not parse). */
static Py_ssize_t
rewrite(Rule *k, const unsigned char *b, Py_ssize_t size, int retain, unsigned char *out,
        Py_ssize_t *removed)
{
    int64_t base = be64(b), base_ts = be64(b + 27), max_ts = be64(b + 35), max_delta = 0;
    int attributes = (b[21] << 8) | b[22];
    int32_t count = be32(b + 57);
    Py_ssize_t n = 0;
    int32_t kept = filter_region(k, b + HEADER_SIZE, size - HEADER_SIZE, count, base,
                                 out + HEADER_SIZE, &n, &max_delta);
    if (kept < 0) {
        return -1;
    }
    *removed += count - kept;
    if (kept == count && count > 0) {
        memcpy(out, b, (size_t)size); /* all kept: the same bytes */
        return size;
    }
    if (kept == 0 && !retain) {
        return 0;
    }
    memcpy(out, b, HEADER_SIZE);
    if (kept == 0) {
        attributes &= ~CODEC_MASK;
    }
    else if (!(attributes & ATTR_LOG_APPEND_TIME)) {
        max_ts = base_ts + max_delta;
    }
    put_be32(out + 8, (uint32_t)(HEADER_SIZE - LOG_OVERHEAD + n));
    out[21] = (unsigned char)(attributes >> 8);
    out[22] = (unsigned char)attributes;
    put_be64(out + 35, (uint64_t)max_ts);
    put_be32(out + 57, (uint32_t)kept);
    put_be32(out + 17, crc32c(out + CRC_START, (size_t)(HEADER_SIZE + n - CRC_START)));
    return HEADER_SIZE + n;
}

static int
is_last_of_producer(const int64_t *lasts, Py_ssize_t n, int64_t last)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (lasts[mid] < last) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo < n && lasts[lo] == last;
}

PyDoc_STRVAR(filter_scan_doc,
"filter_scan(window, pos, table, entries, map_end, drop_tombstones, lasts, out, metas)\n"
"    -> (pos, status, out_len, batches_out, removed, tombstones_kept)\n\n"
"Rewrites the whole batches of window from pos (compactor._write_group's loop with\n"
"rewrite.filter_batch): control batches are copied, every other batch keeps the records\n"
"the pass's rule keeps. lasts: the sorted last offsets of producers' last batches (native\n"
"int64), whose headers stay when no record does. Output batches go to the bytearray out\n"
"(at least len(window) bytes), and (base, last, max timestamp, size) of each to metas\n"
"(native int64, 4 a batch, room for len(window) // 61 batches). Stops as map_scan does.");

static PyObject *
filter_scan(PyObject *self, PyObject *args)
{
    Py_buffer win, tab, lasts_view, out_view, metas_view;
    Py_ssize_t pos, entries, size = 0, out_len = 0, nout = 0, removed = 0;
    long long map_end;
    int drop;
    PyObject *table, *lasts, *out, *metas;
    Rule k;
    if (!PyArg_ParseTuple(args, "y*nOnLpOOO:filter_scan", &win, &pos, &table, &entries,
                          &map_end, &drop, &lasts, &out, &metas)) {
        return NULL;
    }
    if (get_map(table, &tab, entries, &k.map) < 0) {
        PyBuffer_Release(&win);
        return NULL;
    }
    if (PyObject_GetBuffer(lasts, &lasts_view, PyBUF_SIMPLE) < 0) {
        goto fail_tab;
    }
    if (PyObject_GetBuffer(out, &out_view, PyBUF_WRITABLE) < 0) {
        goto fail_lasts;
    }
    if (PyObject_GetBuffer(metas, &metas_view, PyBUF_WRITABLE) < 0) {
        goto fail_out;
    }
    if (pos < 0 || pos > win.len || out_view.len < win.len
        || metas_view.len / 32 < win.len / HEADER_SIZE) {
        PyErr_SetString(PyExc_ValueError, "bad position or output buffers too small");
        goto fail_metas;
    }
    k.map_end = map_end;
    k.drop_tombstones = drop;
    k.tombstones_kept = 0;
    const unsigned char *w = win.buf;
    unsigned char *o = out_view.buf;
    int64_t *meta = metas_view.buf;
    const int64_t *lasts_arr = lasts_view.buf;
    Py_ssize_t nlasts = lasts_view.len / 8;
    int status = END;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        int checked = check_batch(w, win.len, pos, &size);
        if (checked != END) {
            status = checked < 0 ? END : checked;
            break;
        }
        const unsigned char *b = w + pos;
        int64_t base = be64(b);
        int64_t last = base + be32(b + 23);
        int attributes = (b[21] << 8) | b[22];
        Py_ssize_t written;
        if (attributes & ATTR_CONTROL) {
            memcpy(o + out_len, b, (size_t)size);
            written = size;
        }
        else if (attributes & CODEC_MASK) {
            status = COMPRESSED;
            break;
        }
        else {
            int64_t pid = be64(b + 43);
            int retain = pid >= 0 && is_last_of_producer(lasts_arr, nlasts, last);
            written = rewrite(&k, b, size, retain, o + out_len, &removed);
            if (written < 0) {
                status = CORRUPT;
                break;
            }
        }
        if (written > 0) {
            meta[nout * 4] = base;
            meta[nout * 4 + 1] = last;
            meta[nout * 4 + 2] = be64(o + out_len + 35);
            meta[nout * 4 + 3] = written;
            nout++;
            out_len += written;
        }
        pos += size;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&metas_view);
    PyBuffer_Release(&out_view);
    PyBuffer_Release(&lasts_view);
    PyBuffer_Release(&tab);
    PyBuffer_Release(&win);
    return Py_BuildValue("ninnnn", pos, status, out_len, nout, removed, k.tombstones_kept);

fail_metas:
    PyBuffer_Release(&metas_view);
fail_out:
    PyBuffer_Release(&out_view);
fail_lasts:
    PyBuffer_Release(&lasts_view);
fail_tab:
    PyBuffer_Release(&tab);
    PyBuffer_Release(&win);
    return NULL;
}

PyDoc_STRVAR(filter_records_doc,
"filter_records(data, count, base_offset, table, entries, map_end, drop_tombstones, error)\n"
"    -> (kept records bytes, kept count, largest kept timestamp delta, tombstones kept)\n\n"
"The rule of filter_scan over one (decompressed) records region.");

static PyObject *
filter_records(PyObject *self, PyObject *args)
{
    Py_buffer data, tab;
    int count, drop;
    long long base, map_end;
    Py_ssize_t entries, n = 0;
    int64_t max_delta = 0;
    PyObject *table, *error;
    Rule k;
    if (!PyArg_ParseTuple(args, "y*iLOnLpO:filter_records", &data, &count, &base, &table,
                          &entries, &map_end, &drop, &error)) {
        return NULL;
    }
    if (get_map(table, &tab, entries, &k.map) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    k.map_end = map_end;
    k.drop_tombstones = drop;
    k.tombstones_kept = 0;
    PyObject *out = PyBytes_FromStringAndSize(NULL, data.len);
    int32_t kept = -1;
    if (out != NULL) {
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS
        kept = filter_region(&k, data.buf, data.len, count, base, o, &n, &max_delta);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&tab);
    if (out == NULL) {
        return NULL;
    }
    if (kept < 0) {
        Py_DECREF(out);
        return PyErr_Format(error, "a record of the batch at offset %lld does not parse", base);
    }
    if (_PyBytes_Resize(&out, n) < 0) {
        return NULL;
    }
    return Py_BuildValue("NiLn", out, kept, (long long)max_delta, k.tombstones_kept);
}

static PyMethodDef methods[] = {
    {"map_scan", map_scan, METH_VARARGS, map_scan_doc},
    {"map_records", map_records, METH_VARARGS, map_records_doc},
    {"map_get", map_get_py, METH_VARARGS, map_get_doc},
    {"filter_scan", filter_scan, METH_VARARGS, filter_scan_doc},
    {"filter_records", filter_records, METH_VARARGS, filter_records_doc},
    {"digest", digest_py, METH_VARARGS, digest_doc},
    {"crc32c", crc_py, METH_VARARGS, crc_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "logd.storage._compact",
    "Optional C accelerator of the log cleaner's per-record work; see compactor.py.",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__compact(void)
{
    crc_init();
#ifdef HAVE_CRC_HW
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2");
#endif
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(mod, "SLOT_BYTES", SLOT) < 0
        || PyModule_AddIntConstant(mod, "END", END) < 0
        || PyModule_AddIntConstant(mod, "COMPRESSED", COMPRESSED) < 0
        || PyModule_AddIntConstant(mod, "MAP_FULL", MAP_FULL) < 0
        || PyModule_AddIntConstant(mod, "BAD_CRC", BAD_CRC) < 0
        || PyModule_AddIntConstant(mod, "BAD_LENGTH", BAD_LENGTH) < 0
        || PyModule_AddIntConstant(mod, "CORRUPT", CORRUPT) < 0
        || PyModule_AddIntConstant(mod, "TOO_SMALL", TOO_SMALL) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
