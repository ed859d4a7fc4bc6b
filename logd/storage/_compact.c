/* logd.storage._compact: the log cleaner's per-record work in C (issue 16).
 *
 * The pure-Python cleaner (logd.storage.compactor with the dict OffsetMap) stays the
 * reference; tests/storage/test_compact_accel.py checks that both write byte-identical
 * segments. This module holds:
 *
 *  - an offset map in a caller-owned buffer (Kafka's SkimpyOffsetMap): slots of 24
 *    bytes -- a 16-byte MurmurHash3 x64_128 digest of the key, then the offset + 1 as a
 *    native int64 (0: empty slot) -- probed linearly (_compact_rule.h, with the rule);
 *  - map_file / filter_file: a segment file read in windows and every whole batch
 *    handled (CRC-32C check, header checks, key digests, keep/drop of each record, the
 *    rewrite of an uncompressed batch) in one call, reads included, with the GIL released
 *    (_compact_scan.h), so the cleaner thread does not slow producers down while it
 *    works; producer_lasts walks the batch headers only. A compressed batch stops the
 *    loop: Python decompresses it and calls map_records / filter_records on its records
 *    region.
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
enum {
    END = 0, COMPRESSED = 1, MAP_FULL = 2, BAD_CRC = 3, BAD_LENGTH = 4, CORRUPT = 5,
    TOO_SMALL = 6, OUT_FULL = 7, TRUNCATED = 8, TOO_BIG = 9, IO_ERROR = 10
};

#include "_compact_hashes.h"

#include "_compact_rule.h"

#include "_compact_scan.h"

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

/* ---- the passes over a segment file (_compact_scan.h), with the GIL released --------- */

/* The window arguments of map_file/filter_file: fd, pos, end, a writable buffer, budget. */
static int
get_scan(Scan *s, int fd, long long pos, long long end, Py_buffer *buf, long long budget)
{
    if (fd < 0 || pos < 0 || end < pos || buf->len < HEADER_SIZE || budget < 1) {
        PyErr_SetString(PyExc_ValueError, "bad descriptor, range, window or budget");
        return -1;
    }
    s->fd = fd;
    s->pos = pos;
    s->end = end;
    s->buf = buf->buf;
    s->cap = buf->len;
    s->budget = budget;
    s->nread = 0;
    s->at = 0;
    s->need = 0;
    return 0;
}

/* Runs scan_fd on one pass's handler without the GIL; raises OSError on IO_ERROR. */
static int
run_scan(Scan *s, batch_fn fn, void *ctx)
{
    int status, saved = 0;
    Py_BEGIN_ALLOW_THREADS
    status = scan_fd(s, fn, ctx);
    saved = errno;
    Py_END_ALLOW_THREADS
    if (status == IO_ERROR) {
        errno = saved;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return status;
}

PyDoc_STRVAR(map_file_doc,
"map_file(fd, pos, end, window, budget, table, entries, capacity, first_dirty, mapped)\n"
"    -> (status, pos, at, bytes_read, need, entries, mapped)\n\n"
"Maps the keys of the segment file fd from byte pos to end (compactor._build_map's\n"
"loop), read in windows of len(window) bytes, until budget bytes were read or the end\n"
"(END), or the first batch it stops at -- pos is its file position, at its position in\n"
"window: MAP_FULL (no room for its keys; TOO_SMALL: more keys than the whole map),\n"
"COMPRESSED, BAD_CRC, BAD_LENGTH, TRUNCATED, CORRUPT; TOO_BIG: a batch of need bytes\n"
"does not fit the window. Batches ending below first_dirty are skipped, control batches\n"
"are not mapped. mapped: last offset + 1 of the last batch passed at or above\n"
"first_dirty (passed in and out).");

static PyObject *
map_file(PyObject *self, PyObject *args)
{
    Py_buffer win, tab;
    int fd;
    long long pos, end, budget, first_dirty, mapped;
    Py_ssize_t entries, capacity;
    PyObject *table;
    MapPass p;
    Scan s;
    if (!PyArg_ParseTuple(args, "iLLw*LOnnLL:map_file", &fd, &pos, &end, &win, &budget,
                          &table, &entries, &capacity, &first_dirty, &mapped)) {
        return NULL;
    }
    if (get_scan(&s, fd, pos, end, &win, budget) < 0 || get_map(table, &tab, entries, &p.map) < 0) {
        PyBuffer_Release(&win);
        return NULL;
    }
    p.capacity = capacity < p.map.nslots ? capacity : p.map.nslots - 1;
    p.first_dirty = first_dirty;
    p.mapped = mapped;
    int status = run_scan(&s, map_batch, &p);
    PyBuffer_Release(&tab);
    PyBuffer_Release(&win);
    if (status < 0) {
        return NULL;
    }
    return Py_BuildValue("iLnLLnL", status, (long long)s.pos, s.at, (long long)s.nread,
                         (long long)s.need, p.map.entries, (long long)p.mapped);
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

PyDoc_STRVAR(filter_file_doc,
"filter_file(fd, pos, end, window, budget, table, entries, map_end, drop_tombstones,\n"
"            lasts, out, metas)\n"
"    -> (status, pos, at, bytes_read, need, out_len, batches_out, removed, tombstones_kept)\n\n"
"Rewrites the batches of the segment file fd from pos to end as map_file reads them\n"
"(compactor._write_group's loop with rewrite.filter_batch): control batches are copied,\n"
"every other batch keeps the records the pass's rule keeps. lasts: the sorted last\n"
"offsets of producers' last batches (native int64), whose headers stay when no record\n"
"does. Output batches go to the bytearray out (at least len(window) bytes), and (base,\n"
"last, max timestamp, size) of each to metas (native int64, 4 a batch). Stops as\n"
"map_file does, and with OUT_FULL when out or metas has no room for the next batch\n"
"(take the output, call again from pos).");

static PyObject *
filter_file(PyObject *self, PyObject *args)
{
    Py_buffer win, tab, lasts_view, out_view, metas_view;
    int fd, drop;
    long long pos, end, budget, map_end;
    Py_ssize_t entries;
    PyObject *table, *lasts, *out, *metas;
    FilterPass p;
    Scan s;
    if (!PyArg_ParseTuple(args, "iLLw*LOnLpOOO:filter_file", &fd, &pos, &end, &win, &budget,
                          &table, &entries, &map_end, &drop, &lasts, &out, &metas)) {
        return NULL;
    }
    if (get_scan(&s, fd, pos, end, &win, budget) < 0
        || get_map(table, &tab, entries, &p.rule.map) < 0) {
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
    if (out_view.len < win.len || metas_view.len < 32) {
        PyErr_SetString(PyExc_ValueError, "output buffers smaller than the window");
        goto fail_metas;
    }
    p.rule.map_end = map_end;
    p.rule.drop_tombstones = drop;
    p.rule.tombstones_kept = 0;
    p.lasts = lasts_view.buf;
    p.nlasts = lasts_view.len / 8;
    p.out = out_view.buf;
    p.out_cap = out_view.len;
    p.out_len = 0;
    p.metas = metas_view.buf;
    p.metas_cap = metas_view.len / 32;
    p.nout = 0;
    p.removed = 0;
    int status = run_scan(&s, filter_batch, &p);
    PyBuffer_Release(&metas_view);
    PyBuffer_Release(&out_view);
    PyBuffer_Release(&lasts_view);
    PyBuffer_Release(&tab);
    PyBuffer_Release(&win);
    if (status < 0) {
        return NULL;
    }
    return Py_BuildValue("iLnLLnnnn", status, (long long)s.pos, s.at, (long long)s.nread,
                         (long long)s.need, p.out_len, p.nout, p.removed,
                         p.rule.tombstones_kept);

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

#define PAIRS 1024

typedef struct {
    int64_t pairs[2 * PAIRS];
    Py_ssize_t n;
} Pairs;

static int
put_pair(void *ctx, int64_t pid, int64_t last)
{
    Pairs *p = ctx;
    if (p->n == PAIRS) {
        return 1;
    }
    p->pairs[2 * p->n] = pid;
    p->pairs[2 * p->n + 1] = last;
    p->n++;
    return 0;
}

PyDoc_STRVAR(producer_lasts_doc,
"producer_lasts(fd, end, lasts) -> (status, pos)\n\n"
"Walks the batch headers of the segment file fd up to byte end (records are not read)\n"
"and sets lasts[producer id] = last offset of its last batch there\n"
"(compactor._producers_last_batches). status: END, or BAD_LENGTH / TRUNCATED at pos.");

static PyObject *
producer_lasts(PyObject *self, PyObject *args)
{
    int fd;
    long long end;
    PyObject *lasts;
    if (!PyArg_ParseTuple(args, "iLO!:producer_lasts", &fd, &end, &PyDict_Type, &lasts)) {
        return NULL;
    }
    Pairs *p = PyMem_Malloc(sizeof(Pairs));
    if (p == NULL) {
        return PyErr_NoMemory();
    }
    int64_t pos = 0;
    int status, saved = 0;
    do {
        p->n = 0;
        Py_BEGIN_ALLOW_THREADS
        status = walk_headers(fd, &pos, end, put_pair, p);
        saved = errno;
        Py_END_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < p->n && status != IO_ERROR; i++) {
            PyObject *k = PyLong_FromLongLong(p->pairs[2 * i]);
            PyObject *v = k ? PyLong_FromLongLong(p->pairs[2 * i + 1]) : NULL;
            int rc = v ? PyDict_SetItem(lasts, k, v) : -1;
            Py_XDECREF(k);
            Py_XDECREF(v);
            if (rc < 0) {
                PyMem_Free(p);
                return NULL;
            }
        }
    } while (status == OUT_FULL);
    PyMem_Free(p);
    if (status == IO_ERROR) {
        errno = saved;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("iL", status, (long long)pos);
}

PyDoc_STRVAR(filter_records_doc,
"filter_records(data, count, base_offset, table, entries, map_end, drop_tombstones, error)\n"
"    -> (kept records bytes, kept count, largest kept timestamp delta, tombstones kept)\n\n"
"The rule of filter_file over one (decompressed) records region.");

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
    {"map_file", map_file, METH_VARARGS, map_file_doc},
    {"map_records", map_records, METH_VARARGS, map_records_doc},
    {"map_get", map_get_py, METH_VARARGS, map_get_doc},
    {"filter_file", filter_file, METH_VARARGS, filter_file_doc},
    {"producer_lasts", producer_lasts, METH_VARARGS, producer_lasts_doc},
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
        || PyModule_AddIntConstant(mod, "TOO_SMALL", TOO_SMALL) < 0
        || PyModule_AddIntConstant(mod, "OUT_FULL", OUT_FULL) < 0
        || PyModule_AddIntConstant(mod, "TRUNCATED", TRUNCATED) < 0
        || PyModule_AddIntConstant(mod, "TOO_BIG", TOO_BIG) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
