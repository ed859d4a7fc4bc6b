/* logd.storage._compact: the log cleaner's per-record work in C (issue 16).
 *
 * The pure-Python cleaner (logd.storage.compactor with the dict OffsetMap) stays the
 * reference; tests/storage/test_compact_accel.py checks that both write byte-identical
 * segments. This module holds:
 *
 *  - an offset map in a caller-owned buffer (Kafka's SkimpyOffsetMap): slots of 24
 *    bytes -- a 16-byte MurmurHash3 x64_128 digest of the key, then the offset + 1 as a
 *    native int64 (0: empty slot) -- probed linearly (_compact_rule.h, with the rule);
 *  - map_scan / filter_scan: loops over the whole batches of a read window (CRC-32C check,
 *    header checks, key digests, keep/drop of each record, the rewrite of an uncompressed
 *    batch); they run with the GIL released, so the cleaner thread does not slow producers
 *    down while it works. A compressed batch stops the loop: Python decompresses it and
 *    calls map_records / filter_records on its records region.
 *
 * MurmurHash3 and CRC-32C are written out (_compact_hashes.h) rather than called in mmh3 /
 * crc32c: those packages offer no C API, and a call into Python per key or batch would
 * need the GIL. Their results equal mmh3.hash128 and crc32c.crc32c (the tests compare).
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

#include "_compact_hashes.h"

#include "_compact_rule.h"

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
    crc_setup();
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
