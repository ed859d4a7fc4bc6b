/* logd.records._speedups: the consumer's per-record loop in C (issue 8), and the
 * producer's (value_frame, issue 22: see the end of this file).
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


/* ---- the producer's side: value_frame() (issue 22), see logd/records/value_frame.py ---- */

/* The zigzag varint of a non-negative 32-bit n at out; returns its length (1-5). */
static Py_ssize_t
put_varint(unsigned char *out, uint32_t n)
{
    uint64_t z = (uint64_t)n << 1;
    Py_ssize_t len = 0;
    while (z >= 0x80) {
        out[len++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    out[len++] = (unsigned char)z;
    return len;
}

static Py_ssize_t
varint_size(uint64_t n)
{
    uint64_t z = n << 1;
    Py_ssize_t len = 1;
    while (z >= 0x80) {
        z >>= 7;
        len++;
    }
    return len;
}

/* Bytes of record i's body holding a value of n bytes (-1: null): attributes,
 * timestampDelta 0, offsetDelta i, keyLength -1, valueLength, value, 0 headers. */
static Py_ssize_t
body_size(Py_ssize_t i, Py_ssize_t n)
{
    return 1 + 1 + varint_size((uint64_t)i) + 1 + (n < 0 ? 1 : varint_size((uint64_t)n) + n)
           + 1;
}

/* Bytes of record i, its length varint included. */
static Py_ssize_t
record_size(Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t body = body_size(i, n);
    return varint_size((uint64_t)body) + body;
}

static void
put_be32(unsigned char *at, uint32_t v)
{
    at[0] = (unsigned char)(v >> 24);
    at[1] = (unsigned char)(v >> 16);
    at[2] = (unsigned char)(v >> 8);
    at[3] = (unsigned char)v;
}

/* Writes record i (a value of n bytes at data; n -1: null) at out; returns its size. */
static Py_ssize_t
put_record(unsigned char *out, Py_ssize_t i, const char *data, Py_ssize_t n)
{
    Py_ssize_t p = put_varint(out, (uint32_t)body_size(i, n));
    out[p++] = 0; /* attributes */
    out[p++] = 0; /* timestampDelta: the varlong 0 */
    p += put_varint(out + p, (uint32_t)i);
    out[p++] = 1; /* keyLength -1: null */
    if (n < 0) {
        out[p++] = 1; /* valueLength -1: null */
    }
    else {
        p += put_varint(out + p, (uint32_t)n);
        memcpy(out + p, data, (size_t)n);
        p += n;
    }
    out[p++] = 0; /* no headers */
    return p;
}

#define HEADER_SIZE 61
#define LENGTH_AT 8
#define CRC_AT 17
#define CRC_START 21
#define LOG_OVERHEAD 12

PyDoc_STRVAR(value_frame_doc,
"value_frame(prefix_for, header, values, crc) -> (bytes, int)\n\n"
"prefix_for(size) + the batch (header, then a null-key record per value), as one bytes\n"
"object with its batchLength and CRC-32C stamped (see value_frame.py_value_frame).");

static PyObject *
value_frame(PyObject *self, PyObject *args)
{
    PyObject *prefix_for, *header, *values, *crc;
    if (!PyArg_ParseTuple(args, "OO!OO:value_frame", &prefix_for, &PyBytes_Type, &header,
                          &values, &crc)) {
        return NULL;
    }
    if (PyBytes_GET_SIZE(header) != HEADER_SIZE) {
        return PyErr_Format(PyExc_ValueError, "the batch header is %d bytes", HEADER_SIZE);
    }
    /* A tuple of our own, not PySequence_Fast's borrowed list: prefix_for() runs Python
     * between sizing the frame and filling it, and a list changed meanwhile (by it, or by
     * another thread while it holds no GIL) would be written past the frame's end. */
    PyObject *seq = PySequence_Tuple(values);
    if (seq == NULL) {
        return NULL;
    }
    PyObject *frame = NULL, *prefix = NULL, *view = NULL, *sum = NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t size = HEADER_SIZE;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *v = items[i];
        Py_ssize_t n = -1;
        if (v != Py_None) {
            if (!PyBytes_Check(v)) {
                PyErr_Format(PyExc_TypeError, "value %zd is %.100s, not bytes or None", i,
                             Py_TYPE(v)->tp_name);
                goto done;
            }
            n = PyBytes_GET_SIZE(v);
        }
        if (n > INT32_MAX - 64 || i > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a record exceeds the 2 GiB limit");
            goto done;
        }
        size += record_size(i, n);
        if (size - LOG_OVERHEAD > INT32_MAX) {
            PyErr_Format(PyExc_OverflowError, "a batch of %zd bytes exceeds 2 GiB",
                         size - LOG_OVERHEAD);
            goto done;
        }
    }
    prefix = PyObject_CallFunction(prefix_for, "n", size);
    if (prefix == NULL) {
        goto done;
    }
    if (!PyBytes_Check(prefix)) {
        PyErr_SetString(PyExc_TypeError, "prefix_for must return bytes");
        goto done;
    }
    Py_ssize_t at = PyBytes_GET_SIZE(prefix);
    if (at > PY_SSIZE_T_MAX - size) {
        PyErr_NoMemory();
        goto done;
    }
    frame = PyBytes_FromStringAndSize(NULL, at + size);
    if (frame == NULL) {
        goto done;
    }
    /* The new object is ours alone until returned: filling it in place is safe. */
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(frame);
    memcpy(out, PyBytes_AS_STRING(prefix), (size_t)at);
    memcpy(out + at, PyBytes_AS_STRING(header), HEADER_SIZE);
    put_be32(out + at + LENGTH_AT, (uint32_t)(size - LOG_OVERHEAD));
    Py_ssize_t p = at + HEADER_SIZE;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *v = items[i];
        if (v == Py_None) {
            p += put_record(out + p, i, NULL, -1);
        }
        else {
            p += put_record(out + p, i, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
        }
    }
    assert(p == at + size);
    view = PyMemoryView_FromMemory((char *)out + at + CRC_START, size - CRC_START, PyBUF_READ);
    if (view == NULL) {
        goto fail;
    }
    sum = PyObject_CallOneArg(crc, view);
    if (sum == NULL) {
        goto fail;
    }
    unsigned long checksum = PyLong_AsUnsignedLong(sum);
    if (checksum == (unsigned long)-1 && PyErr_Occurred()) {
        goto fail;
    }
    if (Py_REFCNT(view) != 1) {
        PyErr_SetString(PyExc_RuntimeError, "crc kept the view of an unfinished frame");
        goto fail;
    }
    put_be32(out + at + CRC_AT, (uint32_t)checksum);
    PyObject *result = Py_BuildValue("(On)", frame, at);
    Py_CLEAR(frame);
    frame = result;
    goto done;
fail:
    Py_CLEAR(frame);
done:
    Py_XDECREF(sum);
    Py_XDECREF(view);
    Py_XDECREF(prefix);
    Py_DECREF(seq);
    return frame;
}

static PyMethodDef methods[] = {
    {"records_list", records_list, METH_VARARGS, records_list_doc},
    {"value_frame", value_frame, METH_VARARGS, value_frame_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "logd.records._speedups",
    "Optional C accelerator of the per-record loops; see logd/records/accel.py.",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
