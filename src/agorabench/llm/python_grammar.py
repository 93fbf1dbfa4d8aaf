"""A subset of Python that always parses, written as the inside of a JSON string: a grammar for the string
fields of a reply that hold code (`SamplingParams.python_fields`), which the local backend enforces.

Why: a JSON schema can only say "a string", and the embedded SmolLM2-135M, asked for code inside one, often
writes Python that does not parse (a function on one line, an unclosed bracket, prose after a colon), so
most of its instance-generation replies failed the code validators. Under this grammar every reply's code
passes `ast.parse`; the validators stay as strict as they are.

The text is Python as it appears JSON-escaped: a newline is the two characters `\\n`, a double quote `\\"`, a
backslash `\\\\`. What the subset has: statements one per line (assignments, augmented and annotated ones,
expressions, return, pass, break, continue, raise, assert, import, del, global, comments), compound ones
with indented blocks (def with defaults and annotations, class, if/elif/else, for, while, try/except/else/
finally, with, decorators) nested up to MAX_DEPTH, or with a one-line body (`if x: return y`); expressions
with Python's operators, conditional expressions, lambdas, calls (positional before keyword arguments),
subscripts and slices, list / tuple / dict / set literals and comprehensions, bracketed expressions split
over lines; numbers, True/False/None, and strings: '...', "...", triple-quoted (which may hold newlines)
and f-strings whose fields are names. Indentation is four spaces a level. What it leaves out (the model
writes it differently): semicolons, backslash continuations, `*`-unpacking outside calls, walrus, yield,
async, match, number literals other than plain decimals, string prefixes other than f.

The rules follow Python's own grammar where a looser one would let text through that does not parse:
`not` only where Python's grammar has an inversion (`a + not b` is an error), lambda and `x if c else y`
only as whole expressions, assignment targets only names, attributes, subscripts and tuples / lists of
them, a generator argument only alone in its call, no keyword as a name, no leading zeros. llguidance's
lexer is greedy (a lexeme that the next byte can extend is extended), which the lexemes respect: a comment
holds no backslash, and an empty "" cannot be followed by a line break (`\\"\\"\\` reads as the start of `\\"\\"\\"`).
"""

from __future__ import annotations

import json
import keyword
from typing import Any

# How deeply compound statements nest (a method's loop's if's body is depth 4).
MAX_DEPTH = 5

# The lexemes. Spaces go inside them (optional around operators, required around keywords), never
# between them, so a line's leading spaces are only ever its indentation.
_LEXEMES = "KEYWORD: /(" + "|".join(keyword.kwlist) + ")/\n" + r"""
// Bounded, so that a row closing its reply (`llm/grammar.py`) cannot spend its last tokens on one name.
NAME: /[A-Za-z_][A-Za-z0-9_]{0,39}/ & ~KEYWORD
NUMBER: /(0|[1-9][0-9]{0,19})(\.[0-9]{1,20})?/
CONST: "True" | "False" | "None"

// Inside Python strings: any character but a quote, a backslash or a control character; \" (JSON for a
// double quote); a Python escape (JSON \\ and then n, t, r, 0, ', \\ or \"); JSON's \n (a newline) only
// in triple-quoted strings.
PLAIN: /[^'"\\\x00-\x1f]/
JQUOTE: /\\"/
PYESC: /\\\\([ntr0']|\\\\|\\")/
JNEWLINE: /\\n/
FPLAIN: /[^'"\\\x00-\x1f{}]/
FFIELD: "{" NAME ("." NAME)* ("!" /[rsa]/)? (":" /[^'"\\\x00-\x1f{}]*/)? "}"
STRING: "'" (PLAIN | JQUOTE | PYESC)* "'"
    | /\\"/ (PLAIN | "'" | PYESC)* /\\"/
    | "'''" (PLAIN | JQUOTE | PYESC | JNEWLINE)* "'''"
    | /\\"\\"\\"/ (PLAIN | "'" | PYESC | JNEWLINE)* /\\"\\"\\"/
    | "f'" (FPLAIN | JQUOTE | PYESC | "{{" | "}}" | FFIELD)* "'"
    | /f\\"/ (FPLAIN | "'" | PYESC | "{{" | "}}" | FFIELD)* /\\"/
// A comment holds no backslash: the lexer is greedy, and a backslash in it could not be the start of the
// \n that ends its line.
COMMENT: / *#[^"\\\x00-\x1f]*/

COMMA: /, ?/
COLON: /: ?/
ASSIGN: / ?= ?/
AUGASSIGN: / ?(\+|-|\*|\/|\/\/|%|\*\*|&|\||\^|>>|<<|@)= ?/
ARITH: / ?(\+|-|\*|\/|\/\/|%|\*\*|&|\||\^|>>|<<|@) ?/
COMPARE: / ?(<|>|<=|>=|==|!=) ?/ | " in " | " not in " | " is " | " is not "
UNARY: /[-+~]/
ARROW: / ?-> ?/
BREAK_IN_BRACKETS: /\\n */
"""

# Expressions and simple statements: the same at every depth.
_EXPRESSIONS = r"""
expr: disj (" if " disj " else " expr)? | lambdef
lambdef: "lambda" COLON expr | "lambda " lambda_params COLON expr
lambda_params: NAME (COMMA NAME)* (COMMA NAME ASSIGN expr)* | NAME ASSIGN expr (COMMA NAME ASSIGN expr)*
disj: conj (" or " conj)*
conj: inversion (" and " inversion)*
inversion: "not " inversion | comparison
comparison: arith (COMPARE arith)*
arith: factor (ARITH factor)*
factor: UNARY factor | primary
primary: atom trailer* | STRING trailer* | NUMBER | CONST
atom: NAME
    | "(" nl? (expr (sep expr)* COMMA?)? nl? ")" | "(" expr comp_for ")"
    | "[" nl? (expr (sep expr)* COMMA?)? nl? "]" | "[" expr comp_for "]"
    | "{" nl? (pair (sep pair)* COMMA?)? nl? "}" | "{" pair comp_for "}"
    | "{" nl? expr (sep expr)* COMMA? nl? "}" | "{" expr comp_for "}"
pair: expr COLON expr | "**" primary
comp_for: (" for " targets " in " disj (" if " disj)*)+
trailer: "(" nl? arguments? nl? ")" | "[" subscripts "]" | "." NAME
arguments: positional (sep positional)* (sep keyword)* COMMA? | keyword (sep keyword)* COMMA? | expr comp_for
positional: expr | "*" expr
keyword: NAME ASSIGN expr | "**" expr
subscripts: subscript (COMMA subscript)*
subscript: expr | expr? COLON expr? | expr? COLON expr? COLON expr?
sep: COMMA nl?
nl: BREAK_IN_BRACKETS
exprs: expr (COMMA expr)* COMMA?
targets: target (COMMA target)* COMMA?
target: NAME | reference | "(" targets ")" | "[" targets "]"
reference: NAME trailer* ("." NAME | "[" subscripts "]")

simple_line: simple COMMENT?
simple: exprs | targets (ASSIGN targets)* ASSIGN exprs | (NAME | reference) AUGASSIGN exprs
    | (NAME | reference) COLON expr (ASSIGN expr)?
    | "pass" | "break" | "continue" | "return" | "return " exprs
    | "raise" | "raise " expr (" from " expr)? | "assert " expr (COMMA expr)? | "del " targets
    | "global " NAME (COMMA NAME)*
    | "import " dotted_as (COMMA dotted_as)* | "from " dotted " import " name_as (COMMA name_as)*
dotted: NAME ("." NAME)*
dotted_as: dotted (" as " NAME)?
name_as: NAME (" as " NAME)?
parameters: plain (COMMA plain)* (COMMA default)* stars? | default (COMMA default)* stars? | star_params
stars: COMMA star_params
star_params: "*" NAME annotation? (COMMA "**" NAME annotation?)? | "**" NAME annotation?
plain: NAME annotation?
default: NAME annotation? ASSIGN expr
annotation: COLON expr
"""

# Statements at depth {d}: a line, a block one level deeper ({e}), compound statements.
_STATEMENTS = r"""
line{d}: code_line{d} | COMMENT
code_line{d}: simple_line | compound{d}
block{e}: (NL{e} COMMENT)* NL{e} code_line{e} (NL{e} line{e})*
suite{d}: COLON simple_line | COLON COMMENT? block{e}
compound{d}: decorator{d}* "def " NAME "(" nl? parameters? nl? ")" (ARROW expr)? suite{d}
    | decorator{d}* "class " NAME ("(" arguments? ")")? suite{d}
    | "if " expr suite{d} (NL{d} "elif " expr suite{d})* (NL{d} "else" suite{d})?
    | "while " expr suite{d}
    | "for " targets " in " exprs suite{d}
    | "with " expr (" as " target)? (COMMA expr (" as " target)?)* suite{d}
    | "try" suite{d} (NL{d} except{d})+ (NL{d} "else" suite{d})? (NL{d} "finally" suite{d})?
    | "try" suite{d} NL{d} "finally" suite{d}
except{d}: "except" suite{d} | "except " expr (" as " NAME)? suite{d}
decorator{d}: "@" dotted ("(" arguments? ")")? NL{d}
NL{d}: /(\\n)+{indent}/
"""
_DEEPEST = r"""
line{d}: code_line{d} | COMMENT
code_line{d}: simple_line
NL{d}: /(\\n)+{indent}/
"""


def python_rules(max_depth: int = MAX_DEPTH) -> str:
    """The Lark rules of the subset; `module` is a whole program (not empty: an empty field is rejected
    anyway), JSON-escaped."""
    rules = [_LEXEMES, _EXPRESSIONS, "module: line0 (NL0 line0)* NL0?\n"]
    for d in range(max_depth):
        rules.append(_STATEMENTS.format(d=d, e=d + 1, indent=" " * 4 * d))
    # The deepest blocks hold no compound statements.
    rules.append(_DEEPEST.format(d=max_depth, indent=" " * 4 * max_depth))
    return "\n".join(rules)


def object_grammar(schema: dict[str, Any], python_fields: tuple[str, ...] | list[str]) -> str:
    """A Lark grammar (llguidance's dialect) for one compact JSON object of `schema` (a flat object of string
    properties, all required, in the schema's order, written as `json.dumps` writes it) whose `python_fields`
    hold the Python subset and whose other fields are the strings the schema says (`%json`, so a `maxLength`
    holds)."""
    properties = schema.get("properties") or {}
    unknown = [name for name in python_fields if name not in properties]
    if unknown or schema.get("type") != "object":
        raise ValueError(f"python_fields {unknown or list(python_fields)} are not string properties of the schema")
    parts = []
    for i, (name, spec) in enumerate(properties.items()):
        key = json.dumps(("{" if i == 0 else ", ") + json.dumps(name) + ": ")
        if name in python_fields:
            parts.append(f'{key} "\\"" module "\\""')
        else:
            parts.append(f"{key} %json {json.dumps(spec)}")
    start = "start: " + " ".join(parts) + ' "}"\n'
    return "%llguidance {}\n" + start + python_rules()
