/* The compiled set hook of statefire's core (optional).
 *
 * A variable set is the event of the framework, so it is its hot path. Written
 * in Python, the hook costs a Python frame plus object.__setattr__ (~40x a
 * plain attribute set on CPython 3.11); as a C tp_setattro it costs a dict
 * lookup, the generic store and three comparisons.
 *
 * Three base types carry the fields the hook touches; pipeline/_pyhooks.py is
 * the pure-Python twin of this file (same names, same fields, same logic), used
 * when the extension is not built. pipeline/_hooks.py picks one.
 *
 *   RuntimeBase  writer, slow          (base of pipeline.propagation.Runtime)
 *   SlotBase     value, rt, last_writer, watch   (base of pipeline.variable.Slot)
 *   OwnerBase    tp_setattro           (base of pipeline.node._Owner)
 *
 * OwnerBase keeps the default tp_getattro, inherits object's tp_new (which sets
 * up CPython's inline attribute values) and stores values with
 * PyObject_GenericSetAttr, so instances of its Python subclasses keep those
 * inline values and reads stay plain attribute reads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <structmember.h>

static PyObject *str_on_set;     /* "on_set" */
static PyObject *str_set_other;  /* "_set_other" */
static PyObject *no_variables;   /* the class default of _vars: a read-only empty mapping */

/* RuntimeBase -------------------------------------------------------------- */

/* Every field is an object member (T_OBJECT_EX), the kind CPython's
 * specializing interpreter turns into a direct slot access when Python code
 * (propagation, Ref.value) reads or writes it. An unset field reads as an
 * AttributeError from Python; the hook treats NULL as None / False. */

typedef struct {
    PyObject_HEAD
    PyObject *writer;
    PyObject *slow;
} RuntimeBase;

static int
runtime_traverse(RuntimeBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->writer);
    Py_VISIT(self->slow);
    return 0;
}

static int
runtime_clear(RuntimeBase *self)
{
    Py_CLEAR(self->writer);
    Py_CLEAR(self->slow);
    return 0;
}

static void
runtime_dealloc(RuntimeBase *self)
{
    PyObject_GC_UnTrack(self);
    runtime_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef runtime_members[] = {
    {"writer", T_OBJECT_EX, offsetof(RuntimeBase, writer), 0,
     "The node or callback whose code is running now (None: user code)."},
    {"slow", T_OBJECT_EX, offsetof(RuntimeBase, slow), 0,
     "A trace or a hold block is active: every set goes to on_set."},
    {NULL},
};

static PyTypeObject RuntimeBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pipeline._speedups.RuntimeBase",
    .tp_basicsize = sizeof(RuntimeBase),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fields of a Runtime that the compiled set hook reads.",
    .tp_traverse = (traverseproc)runtime_traverse,
    .tp_clear = (inquiry)runtime_clear,
    .tp_dealloc = (destructor)runtime_dealloc,
    .tp_members = runtime_members,
};

/* SlotBase ----------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *value;
    PyObject *rt;           /* a RuntimeBase (checked by the hook) */
    PyObject *last_writer;
    PyObject *watch;
} SlotBase;

static int
slot_traverse(SlotBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->value);
    Py_VISIT(self->rt);
    Py_VISIT(self->last_writer);
    Py_VISIT(self->watch);
    return 0;
}

static int
slot_clear(SlotBase *self)
{
    Py_CLEAR(self->value);
    Py_CLEAR(self->rt);
    Py_CLEAR(self->last_writer);
    Py_CLEAR(self->watch);
    return 0;
}

static void
slot_dealloc(SlotBase *self)
{
    PyObject_GC_UnTrack(self);
    slot_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef slot_members[] = {
    {"value", T_OBJECT_EX, offsetof(SlotBase, value), 0,
     "The variable's current value (the core's copy)."},
    {"rt", T_OBJECT_EX, offsetof(SlotBase, rt), 0, "The state's Runtime."},
    {"last_writer", T_OBJECT_EX, offsetof(SlotBase, last_writer), 0,
     "Who set the variable last (a node, a callback or None)."},
    {"watch", T_OBJECT_EX, offsetof(SlotBase, watch), 0,
     "Someone subscribes to the variable: every set goes to on_set."},
    {NULL},
};

static PyTypeObject SlotBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pipeline._speedups.SlotBase",
    .tp_basicsize = sizeof(SlotBase),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fields of a Slot that the compiled set hook reads and writes.",
    .tp_traverse = (traverseproc)slot_traverse,
    .tp_clear = (inquiry)slot_clear,
    .tp_dealloc = (destructor)slot_dealloc,
    .tp_members = slot_members,
};

/* OwnerBase ---------------------------------------------------------------- */

/* No fields of its own: CPython 3.13 gives a subclass inline attribute values
 * only when its base is exactly as large as `object`. The owner's variables
 * (`_vars`, name -> Slot) live in the instance's attributes like any other,
 * with NO_VARIABLES as the class default. */
static PyObject *str_vars;  /* "_vars" */

/* A flag field: NULL and False are off, True is on; anything else by its truth. */
static inline int
truthy(PyObject *flag)
{
    if (flag == NULL || flag == Py_False) {
        return 0;
    }
    if (flag == Py_True) {
        return 1;
    }
    Py_INCREF(flag);  /* __bool__ may replace the field */
    int result = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    return result;
}

/* The hook. A variable's value is stored as an ordinary attribute (reads stay
 * plain) and in its slot (the core's copy); Runtime.on_set runs only when a
 * subscriber, a trace, a hold block or a new writer needs it. Any other name
 * goes to the owner's _set_other (a Container creates a variable there). */
static int
owner_setattro(PyObject *self, PyObject *name, PyObject *value)
{
    if (value == NULL || !PyUnicode_Check(name)) {
        return PyObject_GenericSetAttr(self, name, value);
    }
    PyObject *vars = PyObject_GetAttr(self, str_vars);  /* an attribute read, no __dict__ made */
    if (vars == NULL) {
        return -1;
    }
    PyObject *found = NULL;
    if (vars != no_variables) {
        if (!PyDict_Check(vars)) {
            PyErr_Format(PyExc_TypeError, "_vars of %s must be a dict of slots, got %s",
                         Py_TYPE(self)->tp_name, Py_TYPE(vars)->tp_name);
            Py_DECREF(vars);
            return -1;
        }
        found = PyDict_GetItemWithError(vars, name);  /* may run a str subclass's __eq__ */
        Py_XINCREF(found);
    }
    Py_DECREF(vars);
    if (found == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        PyObject *res = PyObject_CallMethodObjArgs(self, str_set_other, name, value, NULL);
        if (res == NULL) {
            return -1;
        }
        Py_DECREF(res);
        return 0;
    }
    if (!PyObject_TypeCheck(found, &SlotBase_Type)) {
        PyErr_Format(PyExc_TypeError, "%R of %s is registered with a %s, not a Slot", name,
                     Py_TYPE(self)->tp_name, Py_TYPE(found)->tp_name);
        Py_DECREF(found);
        return -1;
    }
    SlotBase *slot = (SlotBase *)found;  /* a strong reference: the store may run any code */
    RuntimeBase *rt = (RuntimeBase *)slot->rt;
    if (rt == NULL || !PyObject_TypeCheck(rt, &RuntimeBase_Type)) {
        PyErr_Format(PyExc_TypeError, "the slot of %R has no Runtime (rt is %s)", name,
                     rt == NULL ? "unset" : Py_TYPE(rt)->tp_name);
        Py_DECREF(slot);
        return -1;
    }
    Py_INCREF(rt);
    int rc = PyObject_GenericSetAttr(self, name, value);
    if (rc == 0) {
        PyObject *old = slot->value;  /* the reference moves to this frame */
        Py_INCREF(value);
        slot->value = value;
        int busy = truthy(slot->watch);
        if (busy == 0) {
            busy = truthy(rt->slow);
        }
        if (busy == 0) {
            busy = (rt->writer ? rt->writer : Py_None) !=
                   (slot->last_writer ? slot->last_writer : Py_None);
        }
        if (busy < 0) {
            rc = -1;
        }
        else if (busy) {
            PyObject *res = PyObject_CallMethodObjArgs((PyObject *)rt, str_on_set,
                                                       (PyObject *)slot, old ? old : Py_None,
                                                       value, NULL);
            if (res == NULL) {
                rc = -1;
            }
            else {
                Py_DECREF(res);
            }
        }
        Py_XDECREF(old);
    }
    Py_DECREF(rt);
    Py_DECREF(slot);
    return rc;
}

static PyTypeObject OwnerBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pipeline._speedups.OwnerBase",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Where a variable set enters the framework (compiled).",
    .tp_setattro = owner_setattro,
};

/* generic_setattr ------------------------------------------------------------ */

/* The generic store of an attribute, bypassing an owner's hook. (Up to CPython
 * 3.12, object.__setattr__ refuses instances of OwnerBase subclasses: its check
 * stops calls that would skip a C-level tp_setattro.) Instances only: a store
 * into a type's dict would skip the type cache's invalidation. */
static PyObject *
generic_setattr(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "generic_setattr expected 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (PyType_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "generic_setattr stores on instances, got the type %s",
                     ((PyTypeObject *)args[0])->tp_name);
        return NULL;
    }
    if (!PyUnicode_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "attribute name must be a str, got %s",
                     Py_TYPE(args[1])->tp_name);
        return NULL;
    }
    if (PyObject_GenericSetAttr(args[0], args[1], args[2]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"generic_setattr", (PyCFunction)(void (*)(void))generic_setattr, METH_FASTCALL,
     "generic_setattr(obj, name, value): store an attribute without the owner's hook."},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pipeline._speedups",
    .m_doc = "The compiled set hook of the core (see pipeline/_hooks.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    str_on_set = PyUnicode_InternFromString("on_set");
    str_set_other = PyUnicode_InternFromString("_set_other");
    PyObject *empty = PyDict_New();
    if (empty == NULL) {
        return NULL;
    }
    no_variables = PyDictProxy_New(empty);
    Py_DECREF(empty);
    if (str_on_set == NULL || str_set_other == NULL || no_variables == NULL) {
        return NULL;
    }
    /* object's own tp_new: on CPython 3.11 it is what sets up an instance's
     * inline attribute values (PyType_GenericNew does not). */
    RuntimeBase_Type.tp_new = PyBaseObject_Type.tp_new;
    SlotBase_Type.tp_new = PyBaseObject_Type.tp_new;
    OwnerBase_Type.tp_new = PyBaseObject_Type.tp_new;
    if (PyType_Ready(&RuntimeBase_Type) < 0 || PyType_Ready(&SlotBase_Type) < 0 ||
        PyType_Ready(&OwnerBase_Type) < 0) {
        return NULL;
    }
    str_vars = PyUnicode_InternFromString("_vars");
    if (str_vars == NULL || PyDict_SetItem(OwnerBase_Type.tp_dict, str_vars, no_variables) < 0) {
        return NULL;
    }
    PyType_Modified(&OwnerBase_Type);
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "RuntimeBase", (PyObject *)&RuntimeBase_Type) < 0 ||
        PyModule_AddObjectRef(m, "SlotBase", (PyObject *)&SlotBase_Type) < 0 ||
        PyModule_AddObjectRef(m, "OwnerBase", (PyObject *)&OwnerBase_Type) < 0 ||
        PyModule_AddObjectRef(m, "NO_VARIABLES", no_variables) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
