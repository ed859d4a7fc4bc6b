/* logd.records._speedups: the consumer's per-record loop in C (issue 8).
 *
 * One function, records_list(), with exactly the semantics of the pure-Python path
 * logd.records.record.py_records_list (which stays the reference: both run the same
 * tests, and tests/records/test_fuzz.py compares them on every mutant). It decodes the
 * uncompressed records region of one RecordBatch v2 into a list of tuples of a given
 * tuple subclass -- (offset, timestamp, key, value, headers, *tail) -- so the consumer
 * builds its ConsumerRecord (or logd.records.Record) directly, one object per record.
 *
 * Every length is checked against the end of its record before anything is read or
 * sliced; any malformed record raises the CorruptRecordError class the caller passes in.
 * Records with headers call back into the Python decode_headers (rare, and one
 * implementation of the UTF-8 rules is enough). Pure function of its arguments, holds
 * the GIL throughout: thread-safe as any builtin.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* Reads a zigzag varint (max_bytes 5, 32 bits) or varlong (10, 64 bits) at *pos, reading
 * no byte at or past end. Returns 0 and the raw (unsigned) value, or -1 with *what set. */
static int
read_raw(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t end, int max_bytes,
         int bits, uint64_t *out, const char **what)
{
    Py_ssize_t p = *pos;
    Py_ssize_t stop = end;
    uint64_t result = 0;
    int shift = 0;
    if (p + max_bytes < stop) {
        stop = p + max_bytes;
    }
    while (p < stop) {
        uint64_t b = buf[p++];
        uint64_t group = b & 0x7F;
        if (shift > 0 && (shift >= 64 || (group >> (64 - shift)) != 0)) {
            *what = bits == 32 ? "varint overflows 32 bits" : "varlong overflows 64 bits";
            return -1;
        }
        result |= group << shift;
        if (b < 0x80) {
            if (bits == 32 && (result >> 32) != 0) {
                *what = "varint overflows 32 bits";
                return -1;
            }
            *pos = p;
            *out = result;
            return 0;
        }
        shift += 7;
    }
    if (shift >= max_bytes * 7) {
        *what = bits == 32 ? "varint longer than 5 bytes" : "varlong longer than 10 bytes";
    }
    else {
        *what = bits == 32 ? "truncated varint" : "truncated varlong";
    }
    return -1;
}

/* base + zigzag-decoded raw, as a Python int (exact even past 64 bits). */
static PyObject *
add_zigzag(long long base, uint64_t raw)
{
    long long delta = (long long)(raw >> 1) ^ -(long long)(raw & 1);
    long long sum;
    if (!__builtin_add_overflow(base, delta, &sum)) {
        return PyLong_FromLongLong(sum);
    }
    PyObject *a = PyLong_FromLongLong(base);
    PyObject *b = PyLong_FromLongLong(delta);
    PyObject *r = (a != NULL && b != NULL) ? PyNumber_Add(a, b) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(b);
    return r;
}

/* A nullable length-prefixed field (key or value) ending by rec_end; NULL on error. */
static PyObject *
read_nullable(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t rec_end,
              PyObject *error, const char *negative, const char *past)
{
    uint64_t raw;
    const char *what = NULL;
    if (read_raw(buf, pos, rec_end, 5, 32, &raw, &what) < 0) {
        PyErr_SetString(error, what);
        return NULL;
    }
    if (raw & 1) {
        if (raw != 1) {
            PyErr_SetString(error, negative);
            return NULL;
        }
        Py_RETURN_NONE;
    }
    Py_ssize_t len = (Py_ssize_t)(raw >> 1);
    if (len > rec_end - *pos) {
        PyErr_SetString(error, past);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize((const char *)buf + *pos, len);
    *pos += len;
    return out;
}

/* Whether item can never be part of a reference cycle: not a GC type at all (int, bytes,
 * str, None), or an exact tuple the collector has already found to hold none of those. */
static inline int
is_atomic(PyObject *item)
{
    return !PyObject_IS_GC(item) || (PyTuple_CheckExact(item) && !PyObject_GC_IsTracked(item));
}

/* A new instance of tuple subclass cls holding n stolen references.
 *
 * A record of atomic items is untracked by the cyclic GC at once. CPython does the same for
 * exact tuples (_PyTuple_MaybeUntrack), but only lazily and never for tuple subclasses: a
 * consumer holding 100k tracked records made every collection walk them all, which halved
 * replay speed (bench/README.md). */
static PyObject *
new_record(PyTypeObject *cls, PyObject **items, Py_ssize_t n)
{
    PyObject *t = cls == &PyTuple_Type ? PyTuple_New(n) : cls->tp_alloc(cls, n);
    int atomic = 1;
    if (t == NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_DECREF(items[i]);
        }
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTuple_SET_ITEM(t, i, items[i]);
        atomic = atomic && is_atomic(items[i]);
    }
    if (atomic && PyObject_GC_IsTracked(t)) {
        PyObject_GC_UnTrack(t);
    }
    return t;
}

typedef struct {
    const unsigned char *buf;
    Py_ssize_t end;
    PyObject *data;
    long long base_offset;
    long long base_timestamp;
    PyObject *log_append_time; /* None or an int */
    PyTypeObject *cls;
    PyObject *tail;
    PyObject *min_offset;
    long long min_offset_ll;
    int min_offset_fits;
    PyObject *decode_headers;
    PyObject *error;
    PyObject *empty;
    /* the previous record's timestamp: a batch usually holds one, so it is shared */
    uint64_t last_ts_raw;
    PyObject *last_ts;
} Ctx;

/* Decodes the record at *pos; appends it to out unless below min_offset. 0 or -1. */
static int
decode_one(Ctx *c, Py_ssize_t *pos, PyObject *out)
{
    const unsigned char *buf = c->buf;
    uint64_t raw;
    const char *what = NULL;
    PyObject *items[16];
    Py_ssize_t ntail = PyTuple_GET_SIZE(c->tail);
    PyObject *offset = NULL, *timestamp = NULL, *key = NULL, *value = NULL, *headers = NULL;

    if (read_raw(buf, pos, c->end, 5, 32, &raw, &what) < 0) {
        PyErr_SetString(c->error, *pos >= c->end ? "record runs past the end of the batch" : what);
        return -1;
    }
    if (raw & 1) {
        PyErr_SetString(c->error, "negative record length");
        return -1;
    }
    if ((Py_ssize_t)(raw >> 1) > c->end - *pos) {
        PyErr_SetString(c->error, "record length runs past the end of the batch");
        return -1;
    }
    Py_ssize_t rec_end = *pos + (Py_ssize_t)(raw >> 1);
    *pos += 1; /* attributes: ignored, as Kafka does */
    if (*pos > rec_end) {
        PyErr_SetString(c->error, "record length disagrees with the fields it holds");
        return -1;
    }
    if (read_raw(buf, pos, rec_end, 10, 64, &raw, &what) < 0) {
        PyErr_SetString(c->error, what);
        return -1;
    }
    if (c->log_append_time != Py_None) {
        Py_INCREF(c->log_append_time);
        timestamp = c->log_append_time;
    }
    else if (c->last_ts != NULL && raw == c->last_ts_raw) {
        Py_INCREF(c->last_ts);
        timestamp = c->last_ts;
    }
    else {
        timestamp = add_zigzag(c->base_timestamp, raw);
        if (timestamp == NULL) {
            return -1;
        }
        Py_XDECREF(c->last_ts);
        Py_INCREF(timestamp);
        c->last_ts = timestamp;
        c->last_ts_raw = raw;
    }
    if (read_raw(buf, pos, rec_end, 5, 32, &raw, &what) < 0) {
        PyErr_SetString(c->error, what);
        goto fail;
    }
    long long delta = (long long)(raw >> 1) ^ -(long long)(raw & 1);
    long long off;
    int below;
    if (!__builtin_add_overflow(c->base_offset, delta, &off) && c->min_offset_fits) {
        below = off < c->min_offset_ll;
        offset = PyLong_FromLongLong(off);
    }
    else {
        offset = add_zigzag(c->base_offset, raw);
        below = offset == NULL ? 0 : PyObject_RichCompareBool(offset, c->min_offset, Py_LT);
    }
    if (offset == NULL || below < 0) {
        goto fail;
    }
    key = read_nullable(buf, pos, rec_end, c->error, "negative key length",
                        "key length runs past the end of its record");
    if (key == NULL) {
        goto fail;
    }
    value = read_nullable(buf, pos, rec_end, c->error, "negative value length",
                          "value length runs past the end of its record");
    if (value == NULL) {
        goto fail;
    }
    if (*pos >= rec_end) {
        PyErr_SetString(c->error, "record runs past the end of the batch");
        goto fail;
    }
    if (buf[*pos] == 0) {
        Py_INCREF(c->empty);
        headers = c->empty;
        *pos += 1;
    }
    else {
        PyObject *r = PyObject_CallFunction(c->decode_headers, "Onn", c->data, *pos, rec_end);
        if (r == NULL) {
            goto fail;
        }
        Py_ssize_t after;
        if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2
            || (after = PyLong_AsSsize_t(PyTuple_GET_ITEM(r, 1))) == -1) {
            Py_DECREF(r);
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "decode_headers must return (headers, pos)");
            }
            goto fail;
        }
        headers = PyTuple_GET_ITEM(r, 0);
        Py_INCREF(headers);
        Py_DECREF(r);
        *pos = after;
    }
    if (*pos != rec_end) {
        PyErr_SetString(c->error, "record length disagrees with the fields it holds");
        goto fail;
    }
    if (below) {
        Py_DECREF(offset);
        Py_DECREF(timestamp);
        Py_DECREF(key);
        Py_DECREF(value);
        Py_DECREF(headers);
        return 0;
    }
    items[0] = offset;
    items[1] = timestamp;
    items[2] = key;
    items[3] = value;
    items[4] = headers;
    for (Py_ssize_t i = 0; i < ntail; i++) {
        PyObject *x = PyTuple_GET_ITEM(c->tail, i);
        Py_INCREF(x);
        items[5 + i] = x;
    }
    PyObject *rec = new_record(c->cls, items, 5 + ntail);
    if (rec == NULL) {
        return -1;
    }
    int rc = PyList_Append(out, rec);
    Py_DECREF(rec);
    return rc;

fail:
    Py_XDECREF(offset);
    Py_XDECREF(timestamp);
    Py_XDECREF(key);
    Py_XDECREF(value);
    Py_XDECREF(headers);
    return -1;
}

PyDoc_STRVAR(records_list_doc,
"records_list(data, count, base_offset, base_timestamp, log_append_time, cls, tail,\n"
"             min_offset, decode_headers, error) -> list\n\n"
"The records of one batch's uncompressed records region (see record.py_records_list).");

static PyObject *
records_list(PyObject *self, PyObject *args)
{
    Ctx c;
    PyObject *data, *cls;
    Py_ssize_t count;
    memset(&c, 0, sizeof(c));
    if (!PyArg_ParseTuple(args, "O!nLLOOO!OOO:records_list", &PyBytes_Type, &data, &count,
                          &c.base_offset, &c.base_timestamp, &c.log_append_time, &cls,
                          &PyTuple_Type, &c.tail, &c.min_offset, &c.decode_headers,
                          &c.error)) {
        return NULL;
    }
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)
        || ((PyTypeObject *)cls)->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "cls must be tuple or a tuple subclass without slots");
        return NULL;
    }
    if (PyTuple_GET_SIZE(c.tail) > 11) {
        PyErr_SetString(PyExc_ValueError, "tail holds at most 11 items");
        return NULL;
    }
    if (c.log_append_time != Py_None && !PyLong_Check(c.log_append_time)) {
        PyErr_SetString(PyExc_TypeError, "log_append_time must be an int or None");
        return NULL;
    }
    if (!PyLong_Check(c.min_offset)) {
        PyErr_SetString(PyExc_TypeError, "min_offset must be an int");
        return NULL;
    }
    int overflow = 0;
    c.min_offset_ll = PyLong_AsLongLongAndOverflow(c.min_offset, &overflow);
    if (c.min_offset_ll == -1 && PyErr_Occurred()) {
        return NULL;
    }
    c.min_offset_fits = overflow == 0;
    c.cls = (PyTypeObject *)cls;
    c.data = data;
    c.buf = (const unsigned char *)PyBytes_AS_STRING(data);
    c.end = PyBytes_GET_SIZE(data);
    if (count > c.end / 7) { /* a negative count decodes nothing, as in Python */
        return PyErr_Format(c.error, "record count %zd cannot fit in %zd bytes of records",
                            count, c.end);
    }
    c.empty = PyTuple_New(0);
    PyObject *out = PyList_New(0);
    if (c.empty == NULL || out == NULL) {
        Py_XDECREF(c.empty);
        Py_XDECREF(out);
        return NULL;
    }
    Py_ssize_t pos = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (decode_one(&c, &pos, out) < 0) {
            goto fail;
        }
    }
    if (pos != c.end) {
        PyErr_Format(c.error, "%zd bytes left after the last record", c.end - pos);
        goto fail;
    }
    Py_XDECREF(c.last_ts);
    Py_DECREF(c.empty);
    return out;

fail:
    Py_XDECREF(c.last_ts);
    Py_DECREF(c.empty);
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"records_list", records_list, METH_VARARGS, records_list_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "logd.records._speedups",
    "Optional C accelerator for the consumer's per-record loop; see record.py.",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
