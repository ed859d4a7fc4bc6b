/* The reading loop of logd.storage._compact (included once, by _compact.c, after
 * _compact_rule.h): one driver reads a segment file in windows into a caller's buffer and
 * hands every whole, CRC-checked batch to a handler -- the map pass's or the filter
 * pass's -- so a whole segment is cleaned in one C call with the GIL released, and the
 * window logic exists once. A third loop walks only the batch headers (producers' last
 * batches). No Python objects here.
 */
#ifndef LOGD_COMPACT_SCAN_H
#define LOGD_COMPACT_SCAN_H
#include <errno.h>
#include <unistd.h>

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

/* Reads n bytes at off (fewer only at the end of the file); -1 with errno on an error. */
static Py_ssize_t
read_at(int fd, unsigned char *buf, Py_ssize_t n, int64_t off)
{
    Py_ssize_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, (size_t)(n - got), (off_t)(off + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            break;
        }
        got += r;
    }
    return got;
}

/* A pass's work on one whole, CRC-checked batch: END to go on, else why it stops. */
typedef int (*batch_fn)(void *ctx, const unsigned char *b, Py_ssize_t size);

typedef struct {
    int fd;
    int64_t pos;          /* in: where to start; out: the batch it stopped at, or the end */
    int64_t end;          /* the file's size as the log knows it */
    unsigned char *buf;   /* the window */
    Py_ssize_t cap;
    int64_t budget;       /* return once this many bytes were read (the throttle's step) */
    int64_t nread;        /* out: bytes read */
    Py_ssize_t at;        /* out: where the stopping batch is in buf */
    int64_t need;         /* out, TOO_BIG: the size of the batch buf must hold */
} Scan;

/* Reads [pos, end) in windows of whole batches and hands each batch to fn. Stops at the
 * end, after budget bytes, at the first batch fn or the checks stop at (pos and at are
 * that batch's), at a file shorter than end (TRUNCATED), or at a batch larger than the
 * window (TOO_BIG, with need). IO_ERROR: errno says why. */
static int
scan_fd(Scan *s, batch_fn fn, void *ctx)
{
    s->nread = 0;
    while (s->pos < s->end && s->nread < s->budget) {
        Py_ssize_t len = s->end - s->pos < s->cap ? (Py_ssize_t)(s->end - s->pos) : s->cap;
        Py_ssize_t got = read_at(s->fd, s->buf, len, s->pos);
        if (got < 0) {
            return IO_ERROR;
        }
        s->nread += got;
        Py_ssize_t off = 0, size = 0;
        int status = END;
        for (;;) {
            int checked = check_batch(s->buf, got, off, &size);
            if (checked < 0) {
                break;
            }
            status = checked == END ? fn(ctx, s->buf + off, size) : checked;
            if (status != END) {
                break;
            }
            off += size;
        }
        if (status != END || (got < len && off == got)) {
            s->at = off;
            s->pos += off;
            return status != END ? status : TRUNCATED;
        }
        if (off == 0) { /* not even one whole batch in the window */
            s->at = 0;
            if (got < HEADER_SIZE) {
                return TRUNCATED;
            }
            s->need = (int64_t)be32(s->buf + 8) + LOG_OVERHEAD;
            return s->pos + s->need > s->end || got < len ? BAD_LENGTH : TOO_BIG;
        }
        s->pos += off;
    }
    return END;
}

/* ---- the map pass (compactor._build_map) --------------------------------------------- */

typedef struct {
    Map map;
    Py_ssize_t capacity;
    int64_t first_dirty;
    int64_t mapped; /* last offset + 1 of the last batch passed at or above first_dirty */
} MapPass;

static int
map_batch(void *ctx, const unsigned char *b, Py_ssize_t size)
{
    MapPass *p = ctx;
    int64_t base = be64(b);
    int64_t last = base + be32(b + 23);
    int attributes = (b[21] << 8) | b[22];
    int32_t count = be32(b + 57);
    if (last < p->first_dirty) {
        return END;
    }
    if (!(attributes & ATTR_CONTROL)) {
        if (p->map.entries && (count < 0 || p->map.entries + count > p->capacity)) {
            return MAP_FULL;
        }
        if (count < 0 || count >= p->map.nslots) { /* one batch more than the whole map */
            return TOO_SMALL;
        }
        if (attributes & CODEC_MASK) {
            return COMPRESSED;
        }
        if (map_region(&p->map, b + HEADER_SIZE, size - HEADER_SIZE, count, base) < 0) {
            return CORRUPT;
        }
    }
    p->mapped = last + 1;
    return END;
}

/* ---- the filter pass (compactor._write_group with rewrite.filter_batch) -------------- */

typedef struct {
    Rule rule;
    const int64_t *lasts; /* sorted last offsets of producers' last batches */
    Py_ssize_t nlasts;
    unsigned char *out;   /* the batches written */
    Py_ssize_t out_cap, out_len;
    int64_t *metas;       /* (base, last, max timestamp, size) of each batch written */
    Py_ssize_t metas_cap, nout;
    Py_ssize_t removed;
} FilterPass;

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

static int
filter_batch(void *ctx, const unsigned char *b, Py_ssize_t size)
{
    FilterPass *p = ctx;
    if (p->out_len + size > p->out_cap || p->nout >= p->metas_cap) {
        return OUT_FULL; /* the caller takes what was written and calls again */
    }
    int64_t base = be64(b);
    int64_t last = base + be32(b + 23);
    int attributes = (b[21] << 8) | b[22];
    unsigned char *o = p->out + p->out_len;
    Py_ssize_t written;
    if (attributes & ATTR_CONTROL) { /* control batches (Raft's entries) stay */
        memcpy(o, b, (size_t)size);
        written = size;
    }
    else if (attributes & CODEC_MASK) {
        return COMPRESSED;
    }
    else {
        int retain = be64(b + 43) >= 0 && is_last_of_producer(p->lasts, p->nlasts, last);
        written = rewrite(&p->rule, b, size, retain, o, &p->removed);
        if (written < 0) {
            return CORRUPT;
        }
    }
    if (written > 0) {
        int64_t *meta = p->metas + 4 * p->nout++;
        meta[0] = base;
        meta[1] = last;
        meta[2] = be64(o + 35);
        meta[3] = written;
        p->out_len += written;
    }
    return END;
}

/* ---- the headers-only walk (compactor._producers_last_batches) ----------------------- */

#define HEADER_WINDOW 4096

/* Walks the batch headers of [*pos, end) reading a page at a time, and calls put(ctx,
 * producer id, last offset) for each batch with a producer; stops early when put returns
 * nonzero (its buffer is full: call again from *pos). */
static int
walk_headers(int fd, int64_t *pos, int64_t end, int (*put)(void *, int64_t, int64_t),
             void *ctx)
{
    unsigned char w[HEADER_WINDOW];
    Py_ssize_t got = 0;
    int64_t start = 0;
    while (*pos < end) {
        if (start + got - *pos < HEADER_SIZE) {
            int64_t left = end - *pos;
            got = read_at(fd, w, left < HEADER_WINDOW ? (Py_ssize_t)left : HEADER_WINDOW, *pos);
            if (got < 0) {
                return IO_ERROR;
            }
            start = *pos;
            if (got < HEADER_SIZE) {
                return TRUNCATED;
            }
        }
        const unsigned char *b = w + (*pos - start);
        int32_t length = be32(b + 8);
        if (length < HEADER_SIZE - LOG_OVERHEAD) {
            return BAD_LENGTH;
        }
        int64_t pid = be64(b + 43);
        if (pid >= 0 && put(ctx, pid, be64(b) + be32(b + 23))) {
            return OUT_FULL;
        }
        *pos += (int64_t)length + LOG_OVERHEAD;
    }
    return END;
}

#endif
