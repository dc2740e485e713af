/*
 * runs/expr.c - the `--where` language (docs/CLI.md, "Queries"): a
 * recursive-descent parser into a small tree, and its evaluation on a run
 * summary.
 *
 *   expr       := or
 *   or         := and ("or" and)*
 *   and        := unary ("and" unary)*
 *   unary      := "not" unary | "(" expr ")" | comparison
 *   comparison := field op literal
 *   op         := "==" | "!=" | "<" | "<=" | ">" | ">="
 *   literal    := number | 'string' | "string" | true | false | null
 *
 * Cost bounds: the text is at most PT_EXPR_MAX_LEN bytes; recursion only
 * happens through "not" and "(", counted and refused past
 * PT_EXPR_MAX_DEPTH (a 10,000-deep expression is an error, not a stack
 * overflow); "and"/"or" chains are n-ary nodes built in a loop, so their
 * length costs no depth in the parser or the evaluator.
 */
#include "runs/runs_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>

typedef enum { N_AND, N_OR, N_NOT, N_CMP } node_kind;
typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } cmp_op;

struct pt__expr {
	node_kind k;
	pt__expr **kids; /* N_AND, N_OR: n; N_NOT: 1 */
	size_t n;
	pt__field f;     /* N_CMP */
	cmp_op op;
	pt__rv lit;
	char *lit_str;   /* owned string of a string literal */
};

void pt__expr_free(pt__expr *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		pt__expr_free(e->kids[i]);
	pt__free(e->kids);
	pt__free(e->f.name);
	pt__free(e->lit_str);
	pt__free(e);
}

/* ---- fields ---------------------------------------------------------------------------- */
static const struct {
	const char *name;
	pt__field_kind k;
	bool named; /* takes ".NAME" */
} fields[] = {
	{"run", PT_F_RUN, false},           {"status", PT_F_STATUS, false},   {"started", PT_F_STARTED, false},
	{"ended", PT_F_ENDED, false},       {"duration", PT_F_DURATION, false}, {"events", PT_F_EVENTS, false},
	{"streams", PT_F_STREAMS, false},   {"lineages", PT_F_LINEAGES, false}, {"decisions", PT_F_DECISIONS, false},
	{"note", PT_F_NOTE, false},         {"code.commit", PT_F_COMMIT, false}, {"code.dirty", PT_F_DIRTY, false},
	{"params", PT_F_PARAM, true},       {"last", PT_F_LAST, true},         {"min", PT_F_MIN, true},
	{"max", PT_F_MAX, true},            {"tags", PT_F_TAG, true},
};

#define FIELD_LIST "run, status, started, ended, duration, events, streams, lineages, decisions, note, " \
		   "code.commit, code.dirty, params.NAME, last.NAME, min.NAME, max.NAME, tags.NAME"

int pt__field_parse(const char *text, size_t len, pt__field *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		size_t fl = strlen(fields[i].name);
		if (!fields[i].named) {
			if (len == fl && !memcmp(text, fields[i].name, fl)) {
				out->k = fields[i].k;
				return 0;
			}
			continue;
		}
		if (len > fl + 1 && !memcmp(text, fields[i].name, fl) && text[fl] == '.') {
			if (memchr(text + fl + 1, 0, len - fl - 1))
				return pt__err(PT_EINVAL, "a field name holds a NUL byte");
			out->k = fields[i].k;
			return (out->name = pt__strndup(text + fl + 1, len - fl - 1)) ? 0 : PT_ENOMEM;
		}
		if (len == fl && !memcmp(text, fields[i].name, fl))
			return pt__err(PT_EINVAL, "field \"%.*s\" needs a name: %s.NAME", (int)len, text, fields[i].name);
	}
	return pt__err(PT_EINVAL, "unknown field \"%.*s\" (fields: %s)", (int)(len > 200 ? 200 : len), text, FIELD_LIST);
}

/* ---- lexer ----------------------------------------------------------------------------- */
typedef enum { T_END, T_LP, T_RP, T_AND, T_OR, T_NOT, T_OP, T_FIELD, T_NUM, T_STR, T_TRUE, T_FALSE, T_NULL } tok_kind;

typedef struct {
	tok_kind k;
	size_t pos, len; /* in the text */
	cmp_op op;
	double num;
	char *str;       /* T_STR (unescaped), T_FIELD (the dotted path, unquoted) */
	size_t slen;
} tok;

typedef struct {
	const char *s;
	size_t n, i;
	tok t;           /* the current token */
	int depth;
} parser;

static int perr(const parser *p, size_t pos, const char *expected, const char *found_override)
{
	char found[48];
	if (found_override)
		snprintf(found, sizeof found, "%s", found_override);
	else if (pos >= p->n)
		snprintf(found, sizeof found, "the end");
	else {
		size_t l = 0;
		while (pos + l < p->n && l < 20 && !isspace((unsigned char)p->s[pos + l]))
			l++;
		snprintf(found, sizeof found, "\"%.*s\"", (int)(l ? l : 1), p->s + pos);
	}
	return pt__err(PT_EINVAL, "where: at position %zu: expected %s, found %s", pos + 1, expected, found);
}

static bool ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '/' || c == ':'; }

/* A quoted string at p->s[i] (quote q) into a new buffer; *end past the closing quote. */
static int lex_string(parser *p, size_t i, char **out, size_t *olen, size_t *end)
{
	char q = p->s[i];
	pt__buf b = {0};
	size_t j = i + 1;
	for (;;) {
		if (j >= p->n) {
			pt__buf_free(&b);
			return perr(p, i, "a closing quote for this string", "the end");
		}
		char c = p->s[j];
		if (c == q)
			break;
		if (c == '\\') {
			if (j + 1 >= p->n) {
				pt__buf_free(&b);
				return perr(p, j, "a character after '\\'", "the end");
			}
			char e = p->s[j + 1];
			char r = e == 'n' ? '\n' : e == 't' ? '\t' : e == '\\' ? '\\' : e == '\'' ? '\'' : e == '"' ? '"' : 0;
			if (!r) {
				pt__buf_free(&b);
				return perr(p, j, "an escape \\n \\t \\\\ \\' or \\\"", NULL);
			}
			c = r;
			j++;
		}
		if (pt__buf_append(&b, &c, 1)) {
			pt__buf_free(&b);
			return PT_ENOMEM;
		}
		j++;
	}
	if (pt__buf_append(&b, "", 1)) {
		pt__buf_free(&b);
		return PT_ENOMEM;
	}
	*olen = b.len - 1;
	*out = (char *)b.data;
	*end = j + 1;
	return 0;
}

static int next(parser *p)
{
	pt__free(p->t.str);
	memset(&p->t, 0, sizeof p->t);
	while (p->i < p->n && isspace((unsigned char)p->s[p->i]))
		p->i++;
	size_t i = p->i;
	p->t.pos = i;
	if (i >= p->n) {
		p->t.k = T_END;
		return 0;
	}
	const char *s = p->s;
	char c = s[i];
	if (c == '(' || c == ')') {
		p->t.k = c == '(' ? T_LP : T_RP;
		p->i = i + 1;
		return 0;
	}
	if (c == '=' || c == '!' || c == '<' || c == '>') {
		char d = i + 1 < p->n ? s[i + 1] : 0;
		size_t l = 2;
		if (c == '=' && d == '=')
			p->t.op = OP_EQ;
		else if (c == '!' && d == '=')
			p->t.op = OP_NE;
		else if (c == '<' && d == '=')
			p->t.op = OP_LE;
		else if (c == '>' && d == '=')
			p->t.op = OP_GE;
		else if (c == '<' && d != '>' && d != '<')
			p->t.op = OP_LT, l = 1;
		else if (c == '>' && d != '<' && d != '>')
			p->t.op = OP_GT, l = 1;
		else
			return perr(p, i, "an operator (== != < <= > >=)", NULL);
		/* "===", "<==", "=>" and friends are misspellings, not two tokens */
		if (i + l < p->n && strchr("=<>!", s[i + l]))
			return perr(p, i, "an operator (== != < <= > >=)", NULL);
		p->t.k = T_OP;
		p->i = i + l;
		return 0;
	}
	if (c == '&' || c == '|')
		return perr(p, i, c == '&' ? "\"and\" (not &&)" : "\"or\" (not ||)", NULL);
	if (c == '\'' || c == '"') {
		p->t.k = T_STR;
		return lex_string(p, i, &p->t.str, &p->t.slen, &p->i);
	}
	if (isdigit((unsigned char)c) || ((c == '-' || c == '+' || c == '.') && i + 1 < p->n &&
					  (isdigit((unsigned char)s[i + 1]) || s[i + 1] == '.'))) {
		char buf[64];
		size_t l = 0;
		while (i + l < p->n && l < sizeof buf - 1 &&
		       (isalnum((unsigned char)s[i + l]) || s[i + l] == '.' ||
			((s[i + l] == '-' || s[i + l] == '+') && (l == 0 || s[i + l - 1] == 'e' || s[i + l - 1] == 'E'))))
			buf[l] = s[i + l], l++;
		buf[l] = 0;
		char *end;
		errno = 0;
		double d = strtod(buf, &end);
		if (end != buf + l || !l || errno == ERANGE || !isfinite(d))
			return perr(p, i, "a number", NULL);
		p->t.k = T_NUM;
		p->t.num = d;
		p->i = i + l;
		return 0;
	}
	if (ident_start(c)) {
		/* a field path: NAME(.NAME | ."quoted")*, or a keyword */
		pt__buf b = {0};
		size_t j = i;
		int rc = 0;
		for (;;) {
			if (j < p->n && (s[j] == '\'' || s[j] == '"') && j > i) {
				char *q;
				size_t ql, e;
				if ((rc = lex_string(p, j, &q, &ql, &e)))
					break;
				rc = pt__buf_append(&b, q, ql);
				pt__free(q);
				j = e;
			} else {
				size_t k = j;
				while (k < p->n && ident_char(s[k]))
					k++;
				if (k == j) {
					rc = perr(p, j, "a name after '.'", NULL);
					break;
				}
				rc = pt__buf_append(&b, s + j, k - j);
				j = k;
			}
			if (rc || j >= p->n || s[j] != '.')
				break;
			if ((rc = pt__buf_append(&b, ".", 1)))
				break;
			j++;
		}
		if (!rc)
			rc = pt__buf_append(&b, "", 1);
		if (rc) {
			pt__buf_free(&b);
			return rc;
		}
		char *w = (char *)b.data;
		size_t wl = b.len - 1;
		p->i = j;
		p->t.len = j - i;
		if (!strcmp(w, "and"))
			p->t.k = T_AND;
		else if (!strcmp(w, "or"))
			p->t.k = T_OR;
		else if (!strcmp(w, "not"))
			p->t.k = T_NOT;
		else if (!strcmp(w, "true"))
			p->t.k = T_TRUE;
		else if (!strcmp(w, "false"))
			p->t.k = T_FALSE;
		else if (!strcmp(w, "null"))
			p->t.k = T_NULL;
		else {
			p->t.k = T_FIELD;
			p->t.str = w;
			p->t.slen = wl;
			return 0;
		}
		pt__free(w);
		return 0;
	}
	return perr(p, i, "a field, a value, an operator, \"(\" or \")\"", NULL);
}

/* ---- parser ----------------------------------------------------------------------------- */
static int parse_or(parser *p, pt__expr **out);

static pt__expr *node(node_kind k)
{
	pt__expr *e = pt__calloc(1, sizeof *e);
	if (e)
		e->k = k;
	return e;
}

static int add_kid(pt__expr *e, pt__expr *kid)
{
	if ((e->n & (e->n - 1)) == 0) { /* at 0, 1, 2, 4, ...: grow to the next power of two */
		pt__expr **nk = pt__realloc(e->kids, (e->n ? e->n * 2 : 1) * sizeof *nk);
		if (!nk)
			return PT_ENOMEM;
		e->kids = nk;
	}
	e->kids[e->n++] = kid;
	return 0;
}

static bool time_field(pt__field_kind k) { return k == PT_F_STARTED || k == PT_F_ENDED; }

static int parse_cmp(parser *p, pt__expr **out)
{
	if (p->t.k != T_FIELD)
		return perr(p, p->t.pos, "a field (" FIELD_LIST "), \"not\" or \"(\"", NULL);
	pt__expr *e = node(N_CMP);
	if (!e)
		return PT_ENOMEM;
	size_t fpos = p->t.pos;
	int rc = pt__field_parse(p->t.str, p->t.slen, &e->f);
	if (rc) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", pt_error_last());
		pt__expr_free(e);
		return rc == PT_EINVAL ? pt__err(PT_EINVAL, "where: at position %zu: %s", fpos + 1, msg) : rc;
	}
	if ((rc = next(p))) {
		pt__expr_free(e);
		return rc;
	}
	if (p->t.k != T_OP) {
		pt__expr_free(e);
		return perr(p, p->t.pos, "an operator (== != < <= > >=) after the field", NULL);
	}
	e->op = p->t.op;
	if ((rc = next(p))) {
		pt__expr_free(e);
		return rc;
	}
	size_t lpos = p->t.pos;
	switch (p->t.k) {
	case T_NUM: e->lit.t = PT_RV_NUM; e->lit.num = p->t.num; break;
	case T_TRUE: e->lit.t = PT_RV_BOOL; e->lit.b = true; break;
	case T_FALSE: e->lit.t = PT_RV_BOOL; e->lit.b = false; break;
	case T_NULL: e->lit.t = PT_RV_NULL; break;
	case T_STR:
		e->lit.t = PT_RV_STR;
		e->lit_str = p->t.str;
		e->lit.str = e->lit_str;
		e->lit.len = p->t.slen;
		p->t.str = NULL;
		break;
	default:
		pt__expr_free(e);
		return perr(p, lpos, "a value (a number, a 'string', true, false or null)", NULL);
	}
	if (time_field(e->f.k)) {
		/* started/ended compare with an ISO-8601 time ('2026-12-01', '2026-12-01T08:00:00Z') */
		if (e->lit.t != PT_RV_STR) {
			pt__expr_free(e);
			return perr(p, lpos, "a time as a string ('2026-12-01' or '2026-12-01T08:00:00Z')", NULL);
		}
		int64_t ns;
		char full[40];
		const char *ts = e->lit_str;
		if (e->lit.len == 10) { /* a date alone: its midnight, UTC */
			snprintf(full, sizeof full, "%sT00:00:00Z", e->lit_str);
			ts = full;
		}
		if (pt_time_parse(&ns, ts)) {
			pt__expr_free(e);
			return perr(p, lpos, "a time as a string ('2026-12-01' or '2026-12-01T08:00:00Z')", NULL);
		}
		e->lit.t = PT_RV_TIME;
		e->lit.time = ns;
	}
	if ((rc = next(p))) {
		pt__expr_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

static int parse_unary(parser *p, pt__expr **out)
{
	int rc;
	if (p->t.k == T_NOT || p->t.k == T_LP) {
		if (++p->depth > PT_EXPR_MAX_DEPTH)
			return pt__err(PT_EINVAL, "where: at position %zu: nested deeper than %d (\"not\" and parentheses)",
				       p->t.pos + 1, PT_EXPR_MAX_DEPTH);
		if (p->t.k == T_NOT) {
			pt__expr *e = node(N_NOT), *k = NULL;
			if (!e)
				return PT_ENOMEM;
			if ((rc = next(p)) || (rc = parse_unary(p, &k)) || (rc = add_kid(e, k))) {
				pt__expr_free(k);
				pt__expr_free(e);
				return rc;
			}
			p->depth--;
			*out = e;
			return 0;
		}
		size_t open = p->t.pos;
		pt__expr *e = NULL;
		if ((rc = next(p)) || (rc = parse_or(p, &e)))
			return rc;
		if (p->t.k != T_RP) {
			pt__expr_free(e);
			char what[80];
			snprintf(what, sizeof what, "\")\" closing the \"(\" at position %zu, \"and\" or \"or\"", open + 1);
			return perr(p, p->t.pos, what, NULL);
		}
		if ((rc = next(p))) {
			pt__expr_free(e);
			return rc;
		}
		p->depth--;
		*out = e;
		return 0;
	}
	return parse_cmp(p, out);
}

/* and/or: n-ary, built in a loop */
static int parse_chain(parser *p, pt__expr **out, bool is_or)
{
	pt__expr *first = NULL;
	int rc = is_or ? parse_chain(p, &first, false) : parse_unary(p, &first);
	if (rc)
		return rc;
	tok_kind sep = is_or ? T_OR : T_AND;
	if (p->t.k != sep) {
		*out = first;
		return 0;
	}
	pt__expr *e = node(is_or ? N_OR : N_AND);
	if (!e || (rc = add_kid(e, first))) {
		pt__expr_free(first);
		pt__free(e);
		return PT_ENOMEM;
	}
	while (p->t.k == sep) {
		pt__expr *k = NULL;
		if ((rc = next(p)) || (rc = is_or ? parse_chain(p, &k, false) : parse_unary(p, &k)) || (rc = add_kid(e, k))) {
			pt__expr_free(k);
			pt__expr_free(e);
			return rc;
		}
	}
	*out = e;
	return 0;
}

static int parse_or(parser *p, pt__expr **out) { return parse_chain(p, out, true); }

int pt__expr_parse(const char *text, pt__expr **out)
{
	*out = NULL;
	if (!text)
		return pt__err(PT_EINVAL, "where: NULL expression");
	size_t n = strlen(text);
	if (n > PT_EXPR_MAX_LEN)
		return pt__err(PT_EINVAL, "where: the expression is %zu bytes, over the limit of %d", n, PT_EXPR_MAX_LEN);
	parser p = {text, n, 0, {0}, 0};
	int rc = next(&p);
	if (!rc && p.t.k == T_END)
		rc = perr(&p, 0, "an expression", "nothing");
	pt__expr *e = NULL;
	if (!rc)
		rc = parse_or(&p, &e);
	if (!rc && p.t.k != T_END)
		rc = perr(&p, p.t.pos,
			  p.t.k == T_RP ? "\"and\", \"or\" or the end (this \")\" closes nothing)" : "\"and\", \"or\" or the end",
			  NULL);
	pt__free(p.t.str);
	if (rc) {
		pt__expr_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* ---- evaluation -------------------------------------------------------------------------- */
int pt__rv_cmp(const pt__rv *a, const pt__rv *b, bool *ok)
{
	*ok = true;
	if (a->t == PT_RV_NUM && b->t == PT_RV_NUM) {
		if (isnan(a->num) || isnan(b->num)) {
			*ok = false;
			return 0;
		}
		return (a->num > b->num) - (a->num < b->num);
	}
	if (a->t == PT_RV_TIME && b->t == PT_RV_TIME)
		return (a->time > b->time) - (a->time < b->time);
	if (a->t == PT_RV_STR && b->t == PT_RV_STR) {
		int c = memcmp(a->str, b->str, a->len < b->len ? a->len : b->len);
		return c ? (c > 0) - (c < 0) : (a->len > b->len) - (a->len < b->len);
	}
	if (a->t == PT_RV_BOOL && b->t == PT_RV_BOOL)
		return (int)a->b - (int)b->b;
	if (a->t == PT_RV_NULL && b->t == PT_RV_NULL)
		return 0;
	*ok = false;
	return 0;
}

static bool eval_cmp(const pt__expr *e, const pt__rs_run *r)
{
	pt__rv v;
	pt__rs_field(r, &e->f, &v);
	if (v.t == PT_RV_NONE)
		return false; /* a run without the field does not match */
	bool ok;
	int c = pt__rv_cmp(&v, &e->lit, &ok);
	if (!ok)
		return false; /* different types (or NaN): no comparison holds */
	switch (e->op) {
	case OP_EQ: return c == 0;
	case OP_NE: return c != 0;
	case OP_LT: return c < 0;
	case OP_LE: return c <= 0;
	case OP_GT: return c > 0;
	case OP_GE: return c >= 0;
	}
	return false;
}

bool pt__expr_eval(const pt__expr *e, const pt__rs_run *r)
{
	switch (e->k) {
	case N_CMP: return eval_cmp(e, r);
	case N_NOT: return !pt__expr_eval(e->kids[0], r);
	case N_AND:
		for (size_t i = 0; i < e->n; i++)
			if (!pt__expr_eval(e->kids[i], r))
				return false;
		return true;
	case N_OR:
		for (size_t i = 0; i < e->n; i++)
			if (pt__expr_eval(e->kids[i], r))
				return true;
		return false;
	}
	return false;
}
