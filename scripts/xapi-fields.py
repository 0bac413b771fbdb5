#!/usr/bin/env python3
"""xapi-fields.py - list the record fields of XAPI's classes, from its
datamodel (xapi-project/xen-api, ocaml/idl/datamodel*.ml).

    scripts/xapi-fields.py GIT_DIR [COMMIT] > tests/data/xapi-fields.txt

GIT_DIR is a clone of xen-api (bare or not); COMMIT defaults to HEAD.
Nothing is fetched: the output file is committed, and the unit test
tests/unit/pool/test_xapi_fields reads it.

The datamodel is OCaml; this script does not run it but evaluates the
small part of it a field list needs: top-level `let`s, modules, function
application with labelled and optional arguments, lists, `@`, tuples and
constructors, lazily (an argument is only evaluated when a field needs
it, so the messages of a class are never looked at).  The datamodel's
own helpers field, uid, namespace, names and
allowed_and_current_operations are built in, with the meaning they have
there: a field's type defaults to string, its qualifier to RW, and a
namespace "name" prefixes its fields ("name_label").  A record holds
every field that is not internal_only, removed ones included.

Output: one line per field, tab-separated:
    class  field  type  default  access  origin  lifecycle
type     string int float bool datetime enum(NAME) ref(CLASS) set(T)
         map(K,V) option(T)
default  as sent in a record, JSON-like: "" 0 0.0 false [] {} "OpaqueRef:NULL"
         "19700101T00:00:00Z" "Halted"
access   RW, SRO (StaticRO) or DRO (DynamicRO)
origin   declared: XAPI's default_value; zero: none is declared (xapi's
         code sets the field at creation), the type's empty value is given
lifecycle the field's last lifecycle state: published, deprecated, ...
and one line per enum used by those fields:
    enum  NAME  value,value,...
"""
import json
import re
import subprocess
import sys

CLASSES = [
    # served by xm-pool
    "pool", "host", "VM", "VBD", "VDI", "SR", "PBD", "network", "VIF",
    "task", "session", "user", "SM",
    # not served yet
    "host_metrics", "host_cpu", "VM_metrics", "VM_guest_metrics",
    "console", "PIF", "message", "role", "secret",
]

# ---- lexer -----------------------------------------------------------------

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<qstr>\{(?P<qid>[a-z_]*)\|)
  | (?P<str>")
  | (?P<comment>\(\*)
  | (?P<char>'(?:\\.|[^\\'])')
  | (?P<tyvar>'[a-z_][A-Za-z0-9_]*)
  | (?P<num>-?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?[lLn]?)
  | (?P<label>[~?][a-z_][A-Za-z0-9_']*:?)
  | (?P<poly>`[A-Za-z_][A-Za-z0-9_']*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_']*(?:\.[A-Za-z_][A-Za-z0-9_']*)*)
  | (?P<sym>::|->|\|>|\|\||&&|<>|<=|>=|:=|;;|\[\||\|\]|\+\+|[-+*/@^,;=<>|()\[\]{}:.!&#~?])
""", re.X)


def unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = s[i + 1]
        if n == "\n":               # line continuation: skip the indent
            i += 2
            while i < len(s) and s[i] in " \t":
                i += 1
            continue
        out.append({"n": "\n", "t": "\t", "\\": "\\", '"': '"',
                    "'": "'", "r": "\r", " ": " "}.get(n, n))
        i += 2
    return "".join(out)


def lex(text):
    toks, i = [], 0
    while i < len(text):
        m = TOKEN.match(text, i)
        if not m:
            raise SyntaxError("cannot lex at %r" % text[i:i + 30])
        kind = m.lastgroup
        if kind == "qid":
            kind = "qstr"
        if kind == "ws":
            i = m.end()
        elif kind == "comment":
            depth, j = 1, m.end()
            while depth:
                if text.startswith("(*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*)", j):
                    depth, j = depth - 1, j + 2
                elif text[j] == '"':
                    j = skip_string(text, j)
                else:
                    j += 1
            i = j
        elif kind == "str":
            j = skip_string(text, i)
            toks.append(("str", unescape(text[i + 1:j - 1])))
            i = j
        elif kind == "qstr":
            end = "|" + m.group("qid") + "}"
            j = text.index(end, m.end())
            toks.append(("str", text[m.end():j]))
            i = j + len(end)
        else:
            toks.append((kind, m.group(kind)))
            i = m.end()
    return toks


def skip_string(text, i):
    j = i + 1
    while text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return j + 1


KEYWORDS = {"let", "in", "and", "module", "struct", "sig", "end", "open",
            "type", "begin", "fun", "function", "match", "with", "if", "then",
            "else", "rec", "exception", "include", "object", "of", "when",
            "external", "val", "try"}


def is_kw(t, *words):
    return t[0] == "ident" and t[1] in words


# ---- parser: expressions ---------------------------------------------------

class Parser:
    def __init__(self, toks, pos=0, end=None):
        self.t = toks
        self.i = pos
        self.end = len(toks) if end is None else end

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < self.end else ("eof", "")

    def next(self):
        t = self.peek()
        self.i += 1
        return t

    def expect(self, kind, val=None):
        t = self.next()
        if t[0] != kind or (val is not None and t[1] != val):
            raise SyntaxError("expected %s %s, got %r" % (kind, val, t))
        return t

    def at_sym(self, *vals):
        t = self.peek()
        return t[0] == "sym" and t[1] in vals

    def expr(self):
        t = self.peek()
        if is_kw(t, "let"):
            self.next()
            if is_kw(self.peek(), "open"):
                self.next()
                self.next()
                self.expect("ident", "in")
                return self.expr()
            if is_kw(self.peek(), "rec"):
                self.next()
            name, params = self.binding_head()
            self.expect("sym", "=")
            val = self.expr()
            self.expect("ident", "in")
            return ("let", name, params, val, self.expr())
        if is_kw(t, "fun"):
            self.next()
            params = []
            while not self.at_sym("->"):
                params.append(self.param())
            self.next()
            return ("fun", params, self.expr())
        if is_kw(t, "if", "match", "function", "try"):
            return self.opaque_until_stop()
        return self.tuple_expr()

    def opaque_until_stop(self):
        """Skips an expression this script does not evaluate."""
        depth = 0
        start = self.i
        while self.i < self.end:
            t = self.peek()
            if t[0] == "sym" and t[1] in ("(", "[", "{", "[|"):
                depth += 1
            elif is_kw(t, "begin", "struct", "sig", "object"):
                depth += 1
            elif (t[0] == "sym" and t[1] in (")", "]", "}", "|]")) or \
                    is_kw(t, "end"):
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (t[0] == "sym" and t[1] in (";", ";;") or
                                 is_kw(t, "in", "and", "let")):
                break
            self.next()
        return ("opaque", "expression at token %d" % start)

    def tuple_expr(self):
        items = [self.append_expr()]
        while self.at_sym(","):
            self.next()
            items.append(self.append_expr())
        return items[0] if len(items) == 1 else ("tuple", items)

    def append_expr(self):
        left = self.cons_expr()
        if self.at_sym("@", "^"):
            op = self.next()[1]
            return ("append" if op == "@" else "concat", left,
                    self.append_expr())
        if self.at_sym("|>", "=", "<>", "<", ">", "<=", ">=", "||", "&&",
                       "++"):
            self.next()
            self.append_expr()
            return ("opaque", "operator")
        return left

    def cons_expr(self):
        left = self.arith()
        if self.at_sym("::"):
            self.next()
            return ("cons", left, self.cons_expr())
        return left

    def arith(self):
        left = self.app()
        while self.at_sym("+", "-", "*", "/"):
            self.next()
            self.app()
            left = ("opaque", "arithmetic")
        return left

    def starts_atom(self):
        t = self.peek()
        if t[0] in ("str", "num", "char", "poly", "label"):
            return True
        if t[0] == "ident":
            return t[1] not in KEYWORDS
        return t[0] == "sym" and t[1] in ("(", "[", "{", "[|", "!")

    def app(self):
        head = self.atom()
        args = []
        while self.starts_atom():
            t = self.peek()
            if t[0] == "label":
                self.next()
                kind = "lab" if t[1][0] == "~" else "opt"
                name = t[1][1:].rstrip(":")
                if t[1].endswith(":"):
                    args.append((kind, name, self.atom()))
                else:
                    args.append((kind, name, ("var", name)))
            else:
                args.append(("pos", None, self.atom()))
        return ("app", head, args) if args else head

    def atom(self):
        t = self.next()
        kind, val = t
        if kind == "str":
            return ("lit", val)
        if kind == "num":
            v = val.replace("_", "")
            if v[-1] in "lLn":
                return ("lit", int(v[:-1]))
            if "." in v or "e" in v or "E" in v:
                return ("lit", float(v))
            return ("lit", int(v))
        if kind in ("char", "poly", "tyvar"):
            return ("opaque", val)
        if kind == "ident":
            if val in ("true", "false"):
                return ("lit", val == "true")
            if val == "begin":
                e = self.expr()
                self.expect("ident", "end")
                return e
            last = val.split(".")[-1]
            if last[0].isupper() and self.at_sym(".") and \
                    self.peek(1) == ("sym", "("):       # M.(e)
                self.next()
                self.next()
                self.skip_to_close(")")
                return ("opaque", "local open of " + val)
            if last[0].isupper():
                return ("ctor", val)
            return ("var", val)
        if kind == "sym":
            if val == "(":
                if self.at_sym(")"):
                    self.next()
                    return ("lit", ())
                e = self.expr()
                if self.at_sym(":"):            # (e : ty)
                    self.skip_to_close(")")
                else:
                    self.expect("sym", ")")
                return e
            if val == "[":
                items = []
                while not self.at_sym("]"):
                    items.append(self.expr())
                    if self.at_sym(";"):
                        self.next()
                self.next()
                return ("list", items)
            if val in ("{", "[|"):
                self.skip_to_close("}" if val == "{" else "|]")
                return ("opaque", "record or array")
            if val == "!":
                self.atom()
                return ("opaque", "dereference")
            if val == "-":
                return ("opaque", "negation")
        raise SyntaxError("unexpected %r" % (t,))

    def skip_to_close(self, close):
        depth = 0
        while True:
            t = self.next()
            if t[0] == "eof":
                raise SyntaxError("unclosed " + close)
            if t[0] == "sym" and t[1] in ("(", "[", "{", "[|"):
                depth += 1
            elif t[0] == "sym" and t[1] in (")", "]", "}", "|]"):
                if depth == 0:
                    return
                depth -= 1

    def param(self):
        """(kind, label, name, default): kind pos, lab (~) or opt (?)."""
        t = self.next()
        if t[0] == "ident":
            return ("pos", None, t[1], None)
        if t[0] == "sym" and t[1] == "(":
            if self.at_sym(")"):
                self.next()
                return ("pos", None, "()", None)
            name = self.next()[1]
            self.skip_to_close(")")
            return ("pos", None, name, None)
        if t[0] == "sym" and t[1] in ("~", "?"):    # ~(x : t) ?(x = d)
            kind = "lab" if t[1] == "~" else "opt"
            self.expect("sym", "(")
            name = self.next()[1]
            default = None
            if self.at_sym(":"):
                while not self.at_sym("=", ")"):
                    self.next()
            if self.at_sym("="):
                self.next()
                default = self.expr()
            self.expect("sym", ")")
            return (kind, name, name, default)
        if t[0] == "label":
            kind = "lab" if t[1][0] == "~" else "opt"
            label = t[1][1:].rstrip(":")
            name, default = label, None
            if t[1].endswith(":"):
                if self.at_sym("("):
                    self.next()
                    name = self.next()[1]
                    if self.at_sym("="):
                        self.next()
                        default = self.expr()
                    self.expect("sym", ")")
                else:
                    name = self.next()[1]
            return (kind, label, name, default)
        raise SyntaxError("bad parameter %r" % (t,))

    def binding_head(self):
        t = self.next()
        if t[0] == "sym" and t[1] == "(":       # let () = / let (x, y) =
            self.skip_to_close(")")
            name = "()"
        else:
            name = t[1]
        params = []
        while not self.at_sym("=", ":"):
            params.append(self.param())
        if self.at_sym(":"):                    # return type annotation
            while not self.at_sym("="):
                self.next()
        return name, params


# ---- top level: modules and definitions ------------------------------------

OPENERS = ("struct", "sig", "begin", "object")


class Def:
    def __init__(self, file, modpath, name, pos, toks, start, end):
        self.file, self.modpath, self.name = file, modpath, name
        self.pos, self.toks, self.start, self.end = pos, toks, start, end
        self.value = None
        self.done = False


INNER_AFTER = ("=", "->", ";", "(", "[", ",", "@", "::", "|>", "^")


def def_extent(toks, i):
    """Index just past the expression starting at i (a top-level let's)."""
    depth = pending = 0
    while i < len(toks):
        t = toks[i]
        if t[0] == "sym" and t[1] in ("(", "[", "{", "[|"):
            depth += 1
        elif t[0] == "sym" and t[1] in (")", "]", "}", "|]"):
            depth -= 1
        elif is_kw(t, *OPENERS):
            depth += 1
        elif is_kw(t, "end"):
            if depth == 0:
                return i
            depth -= 1
        elif depth == 0 and is_kw(t, "let"):
            # After a complete expression a let starts the next
            # definition; after "=", "in", "->" ... it is a let ... in.
            prev = toks[i - 1]
            inner = (prev[0] == "sym" and prev[1] in INNER_AFTER) or \
                is_kw(prev, "in", "then", "else", "begin", "do", "with")
            if pending == 0 and not inner:
                return i
            pending += 1
        elif depth == 0 and is_kw(t, "in"):
            pending -= 1
        elif depth > 0 and is_kw(t, "let"):
            pass
        elif depth == 0 and pending == 0 and (
                is_kw(t, "and", "module", "type", "open", "exception",
                      "include", "external") or (t[0] == "sym" and
                                                 t[1] == ";;")):
            return i
        i += 1
    return i


class Model:
    def __init__(self):
        self.defs = {}          # (file, modpath, name) -> [Def] in order
        self.opens = {}         # file -> [module names]
        self.files = {}         # module name -> file

    def load(self, file, text):
        toks = lex(text)
        self.files[file[0].upper() + file[1:]] = file
        self.opens[file] = []
        self.structure(file, toks, 0, ())

    def structure(self, file, toks, i, modpath):
        while i < len(toks):
            t = toks[i]
            if is_kw(t, "end"):
                return i + 1
            if is_kw(t, "open"):
                if not modpath:
                    self.opens[file].append(toks[i + 1][1])
                i += 2
            elif is_kw(t, "module"):
                name = toks[i + 1][1]
                j = i + 2
                while j < len(toks) and not is_kw(toks[j], "struct") and \
                        not (toks[j][0] == "sym" and toks[j][1] == "="):
                    j += 1
                if toks[j][1] == "=" and is_kw(toks[j + 1], "struct"):
                    i = self.structure(file, toks, j + 2, modpath + (name,))
                else:
                    i = def_extent(toks, j + 1)
            elif is_kw(t, "let", "and"):
                j = i + 1
                if is_kw(toks[j], "rec"):
                    j += 1
                p = Parser(toks, j)
                try:
                    name, params = p.binding_head()
                    p.expect("sym", "=")
                except SyntaxError:
                    i = def_extent(toks, i + 1)
                    continue
                end = def_extent(toks, p.i)
                d = Def(file, modpath, name, i, toks, p.i, end)
                d.params = params
                self.defs.setdefault((file, modpath, name), []).append(d)
                i = end
            else:
                i = max(def_extent(toks, i + 1), i + 1)
        return i

    def find(self, file, modpath, name, pos):
        """The definition of name visible at pos in file/modpath."""
        parts = name.split(".")
        if len(parts) > 1:
            mods, base = tuple(parts[:-1]), parts[-1]
            for k in range(len(modpath), -1, -1):
                ds = self.defs.get((file, modpath[:k] + mods, base))
                if ds:
                    return ds[-1]
            f = self.files.get(mods[0])
            if f:
                ds = self.defs.get((f, mods[1:], base))
                if ds:
                    return ds[-1]
            return None
        for k in range(len(modpath), -1, -1):
            ds = self.defs.get((file, modpath[:k], name))
            if ds:
                before = [d for d in ds if d.pos < pos]
                if before:
                    return before[-1]
        for m in reversed(self.opens.get(file, [])):
            f = self.files.get(m)
            if f and (f, (), name) in self.defs:
                return self.defs[(f, (), name)][-1]
        return None


# ---- evaluation ------------------------------------------------------------

class Ctor:
    def __init__(self, name, arg=None):
        self.name, self.arg = name.split(".")[-1], arg

    def __repr__(self):
        return "%s(%r)" % (self.name, self.arg)


class Opaque:
    def __init__(self, why):
        self.why = why


class Thunk:
    def __init__(self, ast, env):
        self.ast, self.env, self.v, self.done = ast, env, None, False

    def force(self):
        if not self.done:
            self.v = EVAL.eval(self.ast, self.env)
            self.done = True
        return self.v


class Value:
    def __init__(self, v):
        self.v = v

    def force(self):
        return self.v


class Env:
    def __init__(self, file, modpath, pos, vars=None, parent=None):
        self.file, self.modpath, self.pos = file, modpath, pos
        self.vars, self.parent = vars or {}, parent

    def child(self, vars):
        return Env(self.file, self.modpath, self.pos, vars, self)

    def lookup(self, name):
        e = self
        while e:
            if name in e.vars:
                return e.vars[name]
            e = e.parent
        return None


class Closure:
    def __init__(self, params, body, env, args=()):
        self.params, self.body, self.env, self.args = params, body, env, args


class Builtin:
    def __init__(self, name, fn, npos, args=()):
        self.name, self.fn, self.npos, self.args = name, fn, npos, args


class Field:
    def __init__(self, name, kw):
        self.full_name = [name]
        self.kw = kw            # label -> thunk


class Namespace:
    def __init__(self, name, contents):
        self.name, self.contents = name, contents


class ClassDef:
    def __init__(self, name, contents):
        self.name, self.contents = name, contents


def force(x):
    return x.force() if isinstance(x, (Thunk, Value)) else x


def kwargs(args):
    return {name: thunk for kind, name, thunk in args if kind != "pos"}


def positional(args):
    return [thunk for kind, name, thunk in args if kind == "pos"]


def b_field(args):
    kw = kwargs(args)
    name = force(positional(args)[0])
    return Field(name, kw)


def b_uid(args):
    return Field("uuid", {"qualifier": Value(Ctor("DynamicRO")),
                          "ty": Value(Ctor("String")),
                          "lifecycle": kwargs(args).get("lifecycle")})


def b_names(args):
    kw = kwargs(args)
    qual = positional(args)[1]
    out = []
    for n in ("label", "description"):
        out.append(Field(n, {"qualifier": qual,
                             "default_value":
                                 Value(Ctor("Some", Ctor("VString", ""))),
                             "lifecycle": kw.get("lifecycle")}))
    return out


def b_namespace(args):
    kw = kwargs(args)
    return Namespace(force(kw["name"]), kw["contents"])


def b_ops(args):
    ty = positional(args)[0]
    lc = Value([(Ctor("Published"), "rio", "")])
    return [
        Field("allowed_operations",
              {"qualifier": Value(Ctor("DynamicRO")),
               "ty": Value(Ctor("Set", force(ty))),
               "default_value": Value(Ctor("Some", Ctor("VSet", []))),
               "lifecycle": lc}),
        Field("current_operations",
              {"qualifier": Value(Ctor("DynamicRO")),
               "ty": Value(Ctor("Map", (Ctor("String"), force(ty)))),
               "default_value": Value(Ctor("Some", Ctor("VMap", []))),
               "lifecycle": lc}),
    ]


def b_create_obj(args):
    kw = kwargs(args)
    return ClassDef(force(kw["name"]), kw["contents"])


def b_sexp_to_string(args):
    # Only use: task.backtrace's default, the sexp of Backtrace.empty,
    # an empty list: "()".
    arg = force(positional(args)[0])
    if isinstance(arg, Opaque) and arg.why == "local open of Backtrace":
        return "()"
    return Opaque("Sexp.to_string")


BUILTINS = {
    "Sexplib0.Sexp.to_string": (b_sexp_to_string, 1),
    "field": (b_field, 2),
    "uid": (b_uid, 1),
    "names": (b_names, 2),
    "namespace": (b_namespace, 1),
    "allowed_and_current_operations": (b_ops, 1),
    "create_obj": (b_create_obj, 1),
}

CONSTANTS = {
    "Date.epoch": "19700101T00:00:00Z",
    "Int64.zero": 0,
    "Int64.one": 1,
    "Int64.minus_one": -1,
    "null_ref": "OpaqueRef:NULL",
    "Ref.null": "OpaqueRef:NULL",
}


class Evaluator:
    def __init__(self, model):
        self.model = model

    def eval(self, ast, env):
        kind = ast[0]
        if kind == "lit":
            return ast[1]
        if kind == "opaque":
            return Opaque(ast[1])
        if kind == "ctor":
            return Ctor(ast[1])
        if kind == "var":
            return self.var(ast[1], env)
        if kind == "list":
            out = []
            for a in ast[1]:
                out.append(self.eval(a, env))
            return out
        if kind == "tuple":
            return tuple(self.eval(a, env) for a in ast[1])
        if kind in ("append", "cons", "concat"):
            a, b = self.eval(ast[1], env), self.eval(ast[2], env)
            if kind == "cons":
                return [a] + b if isinstance(b, list) else Opaque("cons")
            if kind == "append" and isinstance(a, list) and \
                    isinstance(b, list):
                return a + b
            if kind == "concat" and isinstance(a, str) and \
                    isinstance(b, str):
                return a + b
            return Opaque(kind)
        if kind == "let":
            _, name, params, val, body = ast
            if params:
                v = Closure(params, val, env)
            else:
                v = Thunk(val, env)
            return self.eval(body, env.child({name: v}))
        if kind == "fun":
            return Closure(ast[1], ast[2], env)
        if kind == "app":
            f = self.eval(ast[1], env)
            args = [(k, n, Thunk(a, env)) for k, n, a in ast[2]]
            return self.apply(f, args)
        raise ValueError("cannot evaluate %r" % (kind,))

    def var(self, name, env):
        v = env.lookup(name)
        if v is not None:
            return force(v)
        if name in BUILTINS:
            fn, npos = BUILTINS[name]
            return Builtin(name, fn, npos)
        if name in CONSTANTS:
            return CONSTANTS[name]
        d = self.model.find(env.file, env.modpath, name, env.pos)
        if d is None:
            return Opaque("unknown " + name)
        return self.def_value(d)

    def def_value(self, d):
        if d.done:
            return d.value
        env = Env(d.file, d.modpath, d.pos)
        p = Parser(d.toks, d.start, d.end)
        try:
            body = p.expr()
        except SyntaxError as e:
            body = ("opaque", "%s: %s" % (d.name, e))
        if d.params:
            d.value = Closure(d.params, body, env)
        else:
            d.done = True       # guards recursion
            d.value = Opaque("recursive " + d.name)
            d.value = self.eval(body, env)
        d.done = True
        return d.value

    def apply(self, f, args):
        if isinstance(f, Ctor) and f.arg is None:
            pos = positional(args)
            return Ctor(f.name, force(pos[0]) if pos else None)
        if isinstance(f, Builtin):
            allargs = list(f.args) + args
            if len(positional(allargs)) >= f.npos or (
                    f.name == "create_obj" and
                    any(force(t) == () for t in positional(allargs))):
                return f.fn(allargs)
            return Builtin(f.name, f.fn, f.npos, allargs)
        if isinstance(f, Closure):
            allargs = list(f.args) + args
            plain = [p for p in f.params if p[0] == "pos"]
            pos = positional(allargs)
            if len(pos) < len(plain):
                return Closure(f.params, f.body, f.env, allargs)
            kw = kwargs(allargs)
            bind = {}
            for p in f.params:
                if p[0] == "pos":
                    bind[p[2]] = pos.pop(0)
                else:
                    label, name, default = p[1], p[2], p[3]
                    if label in kw:
                        t = kw[label]
                        if p[0] == "opt" and default is None:
                            # ?x: an argument ~x:v gives Some v
                            bind[name] = Value(Ctor("Some", force(t)))
                        else:
                            bind[name] = t
                    elif default is not None:
                        bind[name] = Thunk(default, f.env)
                    else:
                        bind[name] = Value(Ctor("None"))
            # A ?x:v given to a closure passing ?x on (names ?lifecycle)
            for k, n, t in allargs:
                if k == "opt" and n in bind:
                    bind[n] = t
            v = self.eval(f.body, f.env.child(bind))
            rest = [(k, n, t) for k, n, t in allargs if k == "pos"][
                len(plain):]
            return self.apply(v, rest) if rest else v
        if not args:
            return f
        return Opaque("application of a non-function")


EVAL = None

# ---- fields ----------------------------------------------------------------


def ty_name(t):
    t = force(t)
    if isinstance(t, Ctor):
        n = t.name
        simple = {"String": "string", "Int": "int", "Float": "float",
                  "Bool": "bool", "DateTime": "datetime",
                  "SecretString": "string"}
        if n in simple:
            return simple[n]
        if n == "Enum":
            ENUMS[t.arg[0]] = [v[0] for v in t.arg[1]] \
                if isinstance(t.arg[1], list) else None
            return "enum(%s)" % t.arg[0]
        if n == "Ref":
            return "ref(%s)" % t.arg
        if n == "Record":
            return "record(%s)" % t.arg
        if n == "Set":
            return "set(%s)" % ty_name(t.arg)
        if n == "Option":
            return "option(%s)" % ty_name(t.arg)
        if n == "Map":
            return "map(%s,%s)" % (ty_name(t.arg[0]), ty_name(t.arg[1]))
    raise ValueError("unknown type %r" % (t,))


ENUMS = {}


def literal(v):
    """A datamodel api_value as it is sent, JSON-like."""
    v = force(v)
    if isinstance(v, Ctor):
        a = v.arg
        if v.name in ("VString", "VEnum", "VDateTime", "VRef"):
            if isinstance(a, str):
                return json.dumps(a)
        elif v.name == "VInt" and isinstance(a, int):
            return str(a)
        elif v.name == "VFloat" and isinstance(a, (int, float)):
            return repr(float(a))
        elif v.name == "VBool" and isinstance(a, bool):
            return "true" if a else "false"
        elif v.name == "VSet" and isinstance(a, list):
            return "[" + ",".join(literal(x) for x in a) + "]"
        elif v.name == "VMap" and isinstance(a, list):
            return "{" + ",".join(literal(k) + ":" + literal(x)
                                  for k, x in a) + "}"
    return "?"


def zero(ty):
    if ty in ("string",):
        return '""'
    if ty == "int":
        return "0"
    if ty == "float":
        return "0.0"
    if ty == "bool":
        return "false"
    if ty == "datetime":
        return '"19700101T00:00:00Z"'
    if ty.startswith("ref("):
        return '"OpaqueRef:NULL"'
    if ty.startswith("set("):
        return "[]"
    if ty.startswith("map("):
        return "{}"
    if ty.startswith("enum("):
        vals = ENUMS.get(ty[5:-1])
        return json.dumps(vals[0]) if vals else "?"
    return "?"


def lifecycle_state(t):
    lc = force(t) if t is not None else None
    if isinstance(lc, Ctor) and lc.name == "Some":
        lc = lc.arg
    if not isinstance(lc, list) or not lc:
        return "published"
    last = lc[-1]
    if isinstance(last, tuple) and isinstance(last[0], Ctor):
        return last[0].name.lower()
    return "?"


def flatten(items, prefix, out):
    items = force(items)
    if not isinstance(items, list):
        raise ValueError("%s: contents are not a list: %s" %
                         ("_".join(prefix), getattr(items, "why", items)))
    for it in items:
        it = force(it)
        if isinstance(it, Field):
            out.append((prefix + it.full_name, it))
        elif isinstance(it, Namespace):
            flatten(it.contents, prefix + [it.name], out)
        elif isinstance(it, list):
            flatten(it, prefix, out)
        else:
            raise ValueError("%s: not a field: %s" %
                             ("_".join(prefix), getattr(it, "why", it)))


def field_line(cls, names, f):
    kw = f.kw
    internal = kw.get("internal_only")
    if internal is not None and force(internal) is True:
        return None
    ty = ty_name(kw["ty"]) if "ty" in kw else "string"
    q = force(kw["qualifier"]).name if "qualifier" in kw else "RW"
    access = {"RW": "RW", "StaticRO": "SRO", "DynamicRO": "DRO"}[q]
    dv = force(kw["default_value"]) if "default_value" in kw else None
    if isinstance(dv, Ctor) and dv.name == "Some":
        default, origin = literal(dv.arg), "declared"
    else:
        default, origin = zero(ty), "zero"
    return "\t".join([cls, "_".join(names), ty, default, access, origin,
                      lifecycle_state(kw.get("lifecycle"))])


def main():
    global EVAL
    gitdir = sys.argv[1]
    commit = sys.argv[2] if len(sys.argv) > 2 else "HEAD"

    def git(*a):
        return subprocess.run(["git", "--git-dir", gitdir] + list(a),
                              check=True, capture_output=True,
                              text=True).stdout

    sha = git("rev-parse", commit).strip()
    date = git("show", "-s", "--format=%cI", sha).strip()
    names = [p for p in git("ls-tree", "--name-only", sha,
                            "ocaml/idl/").split()
             if re.match(r"ocaml/idl/datamodel[a-z_]*\.ml$", p)]
    model = Model()
    for p in names:
        model.load(p.split("/")[-1][:-3], git("show", "%s:%s" % (sha, p)))
    model.load("constants", git("show", sha +
                                ":ocaml/xapi-consts/constants.ml"))
    EVAL = Evaluator(model)

    # The definitions that make a class: create_obj ... ~name:<cls>.
    found = {}
    for key, ds in model.defs.items():
        for d in ds:
            body = d.toks[d.start:d.end]
            if not any(t == ("ident", "create_obj") for t in body) or \
                    d.params:
                continue
            for i, t in enumerate(body):
                if t == ("label", "~name:"):
                    n = body[i + 1]
                    cname = n[1] if n[0] == "str" else force(
                        EVAL.var(n[1], Env(d.file, d.modpath, d.pos)))
                    if cname in CLASSES and cname not in found:
                        found[cname] = d
                    break

    lines = []
    for cname in CLASSES:
        d = found.get(cname)
        if d is None:
            sys.exit("xapi-fields: class %s not found" % cname)
        v = EVAL.def_value(d)
        if not isinstance(v, ClassDef):
            sys.exit("xapi-fields: %s: no create_obj result (%s)" %
                     (cname, getattr(v, "why", repr(v))))
        fields = []
        flatten(v.contents, [], fields)
        for names_, f in fields:
            line = field_line(cname, names_, f)
            if line:
                lines.append(line)

    print("# XAPI record fields, derived from the datamodel of "
          "xapi-project/xen-api")
    print("# (ocaml/idl/datamodel*.ml) by scripts/xapi-fields.py.")
    print("# commit %s (%s)" % (sha, date))
    print("# Facts of the XenAPI wire format: class, field, type, the "
          "default as sent,")
    print("# access (RW, SRO static read-only, DRO dynamic read-only), "
          "where the default")
    print("# comes from (declared: XAPI's default_value; zero: none "
          "declared, the type's")
    print("# empty value), the field's last lifecycle state.  Then "
          "the enums' values.")
    print("# Regenerate: scripts/xapi-fields.py XEN_API_GIT_DIR "
          "[COMMIT] > this file")
    print("#class\tfield\ttype\tdefault\taccess\torigin\tlifecycle")
    for line in lines:
        print(line)
    for name in sorted(ENUMS):
        vals = ENUMS[name]
        print("enum\t%s\t%s" % (name, ",".join(vals) if vals else "?"))


if __name__ == "__main__":
    main()
