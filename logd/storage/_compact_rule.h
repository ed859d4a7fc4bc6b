/* The offset map and the record rule of logd.storage._compact (included once, by
 * _compact.c, after its constants and _compact_hashes.h): the map's slots in a caller's
 * buffer, the parsing of a record's key and value (every length checked against its
 * record's end), the cleaner's keep/drop rule (compactor._Keeper's), and the loops over one
 * uncompressed records region that map its keys or copy the records kept. No Python
 * objects here: all of it runs with the GIL released.
 */
#ifndef LOGD_COMPACT_RULE_H
#define LOGD_COMPACT_RULE_H

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

#endif
