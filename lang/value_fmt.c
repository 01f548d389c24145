/* value_fmt.c: Python's format-spec mini-language ([[fill]align][sign][z][#][0][width][,_][.prec][type]) for f-strings and str.format. */
#include "value.h"
#include "value_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FMT_MAX_WIDTH 1000000
#define FMT_MAX_PREC 1000

typedef struct fspec {
	char fill[5];    /* one UTF-8 code point */
	char align;      /* 0 (default) or < > = ^ */
	bool align_given; /* written in the spec, not implied by '0' */
	char sign;       /* 0, '+', '-', ' ' */
	bool z, alt, zero;
	long width;      /* -1: none */
	char group;      /* 0, ',', '_' */
	long prec;       /* -1: none */
	char type;       /* 0: none */
} fspec;

static int bad_spec(const char *spec, value v, verr *e)
{
	verr_set(e, "invalid format spec '%s' for %s", spec, vtype_name(v.t));
	return -1;
}

static bool is_align(char c)
{
	return c == '<' || c == '>' || c == '=' || c == '^';
}

static size_t utf8_len1(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Parses spec; false if malformed. */
static bool parse_spec(const char *s, fspec *f)
{
	memset(f, 0, sizeof *f);
	f->width = f->prec = -1;
	f->fill[0] = ' ';
	bool fill_given = false;
	size_t n1 = *s ? utf8_len1((unsigned char)*s) : 0;
	if (*s && strnlen(s, n1) == n1 && is_align(s[n1])) {
		memcpy(f->fill, s, n1);
		f->fill[n1] = '\0';
		f->align = s[n1];
		f->align_given = true;
		fill_given = true;
		s += n1 + 1;
	} else if (is_align(*s)) {
		f->align = *s++;
		f->align_given = true;
	}
	if (*s == '+' || *s == '-' || *s == ' ')
		f->sign = *s++;
	if (*s == 'z') {
		f->z = true;
		s++;
	}
	if (*s == '#') {
		f->alt = true;
		s++;
	}
	if (*s == '0') {
		f->zero = true;
		s++;
	}
	if (*s >= '0' && *s <= '9') {
		long w = 0;
		while (*s >= '0' && *s <= '9') {
			w = w * 10 + (*s++ - '0');
			if (w > FMT_MAX_WIDTH)
				return false;
		}
		f->width = w;
	}
	if (*s == ',' || *s == '_')
		f->group = *s++;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		long p = 0;
		while (*s >= '0' && *s <= '9') {
			p = p * 10 + (*s++ - '0');
			if (p > FMT_MAX_PREC)
				return false;
		}
		f->prec = p;
	}
	if (*s) {
		f->type = *s++;
		if (*s)
			return false;
		if (!strchr("bcdeEfFgGnosxX%", f->type))
			return false;
	}
	/* a leading 0 means zero padding after the sign, unless told otherwise */
	if (f->zero && !fill_given) {
		f->fill[0] = '0';
		f->fill[1] = '\0';
		if (!f->align)
			f->align = '=';
	}
	return true;
}

static size_t cp_count(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

static void add_fill(sbuf *out, const fspec *f, size_t n)
{
	size_t fl = strlen(f->fill);
	for (size_t i = 0; i < n; i++)
		sbuf_add(out, f->fill, fl);
}

/* Lays out sign + prefix + digits (grouped) + rest within the width. */
static void emit_number(sbuf *out, const fspec *f, const char *sign, const char *prefix,
                        const char *digits, size_t ndig, const char *rest, char defalign)
{
	size_t every = (f->type && strchr("boxX", f->type)) ? 4 : 3;
	char group = ndig ? f->group : 0; /* inf and nan are not grouped */
	size_t fixed = strlen(sign) + strlen(prefix) + strlen(rest);
	char align = f->align ? f->align : defalign;
	/* zero padding goes between the digits, separators included */
	size_t min_width = 0;
	if (align == '=' && strcmp(f->fill, "0") == 0 && f->width > 0 && (size_t)f->width > fixed)
		min_width = (size_t)f->width - fixed;
	size_t cap = (ndig + min_width) * 2 + 2;
	char *tmp = malloc(cap);
	if (!tmp)
		val_oom(cap);
	/* right to left: a separator before every `every` digits; zeros (and
	 * their separators) until min_width is reached */
	size_t k = cap, emitted = 0, len = 0;
	while (emitted < ndig || len < min_width) {
		if (group && emitted > 0 && emitted % every == 0) {
			tmp[--k] = group;
			len++;
		}
		tmp[--k] = emitted < ndig ? digits[ndig - 1 - emitted] : '0';
		emitted++;
		len++;
	}
	size_t total = fixed + len;
	size_t pad = (f->width > 0 && (size_t)f->width > total) ? (size_t)f->width - total : 0;
	if (align == '>')
		add_fill(out, f, pad);
	else if (align == '^')
		add_fill(out, f, pad / 2);
	sbuf_adds(out, sign);
	sbuf_adds(out, prefix);
	if (align == '=')
		add_fill(out, f, pad);
	sbuf_add(out, tmp + k, cap - k);
	sbuf_adds(out, rest);
	if (align == '<')
		add_fill(out, f, pad);
	else if (align == '^')
		add_fill(out, f, pad - pad / 2);
	free(tmp);
}

static const char *sign_text(const fspec *f, bool neg)
{
	if (neg)
		return "-";
	return f->sign == '+' ? "+" : f->sign == ' ' ? " " : "";
}

static int format_int(sbuf *out, int64_t v, const fspec *f, const char *spec, value orig, verr *e)
{
	if (f->prec >= 0 || f->z)
		return bad_spec(spec, orig, e);
	char t = f->type ? f->type : 'd';
	if (!strchr("dnbcoxX", t))
		return bad_spec(spec, orig, e);
	if (t == 'n') {
		if (f->group)
			return bad_spec(spec, orig, e);
		t = 'd';
	}
	if (f->group == ',' && t != 'd')
		return bad_spec(spec, orig, e);
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	if (t == 'c') {
		if (f->sign || f->alt || f->group || v < 0 || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000))
			return bad_spec(spec, orig, e);
		char buf[5];
		size_t n;
		uint32_t c = (uint32_t)v;
		if (c < 0x80) { buf[0] = (char)c; n = 1; }
		else if (c < 0x800) { buf[0] = (char)(0xC0 | c >> 6); buf[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
		else if (c < 0x10000) { buf[0] = (char)(0xE0 | c >> 12); buf[1] = (char)(0x80 | ((c >> 6) & 0x3F)); buf[2] = (char)(0x80 | (c & 0x3F)); n = 3; }
		else { buf[0] = (char)(0xF0 | c >> 18); buf[1] = (char)(0x80 | ((c >> 12) & 0x3F)); buf[2] = (char)(0x80 | ((c >> 6) & 0x3F)); buf[3] = (char)(0x80 | (c & 0x3F)); n = 4; }
		buf[n] = '\0';
		emit_number(out, f, "", "", "", 0, buf, '>');
		return 0;
	}
	unsigned base = t == 'b' ? 2 : t == 'o' ? 8 : (t == 'x' || t == 'X') ? 16 : 10;
	const char *xd = t == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
	char digits[70];
	size_t n = 0;
	char rev[70];
	do {
		rev[n++] = xd[mag % base];
		mag /= base;
	} while (mag);
	for (size_t i = 0; i < n; i++)
		digits[i] = rev[n - 1 - i];
	const char *prefix = "";
	if (f->alt)
		prefix = t == 'b' ? "0b" : t == 'o' ? "0o" : t == 'x' ? "0x" : t == 'X' ? "0X" : "";
	emit_number(out, f, sign_text(f, v < 0), prefix, digits, n, "", '>');
	return 0;
}

/* Shortest-digits repr body of |x| (finite), as val_float_repr prints it. */
static void repr_body(sbuf *b, double x)
{
	val_float_repr(b, fabs(x));
}

/* Python's 'g' (and no-type with a precision: add_dot_0) of |x|, finite. */
static void general_body(sbuf *b, double x, int p, bool alt, bool add_dot_0, bool upper)
{
	if (p == 0)
		p = 1;
	char buf[FMT_MAX_PREC + 32];
	snprintf(buf, sizeof buf, "%.*e", p - 1, fabs(x));
	char *ep = strchr(buf, 'e');
	int ex = atoi(ep + 1);
	char d[FMT_MAX_PREC + 8];
	int n = 0;
	for (char *q = buf; q < ep; q++)
		if (*q != '.')
			d[n++] = *q;
	if (!alt)
		while (n > 1 && d[n - 1] == '0')
			n--;
	d[n] = '\0';
	bool use_exp = ex < -4 || ex >= (add_dot_0 ? p - 1 : p);
	if (use_exp) {
		sbuf_addc(b, d[0]);
		if (n > 1 || alt)
			sbuf_addc(b, '.');
		sbuf_add(b, d + 1, (size_t)n - 1);
		sbuf_printf(b, "%c%c%02d", upper ? 'E' : 'e', ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
	} else if (ex < 0) {
		sbuf_adds(b, "0.");
		for (int i = 0; i < -ex - 1; i++)
			sbuf_addc(b, '0');
		sbuf_add(b, d, (size_t)n);
	} else {
		for (int i = 0; i <= ex; i++)
			sbuf_addc(b, i < n ? d[i] : '0');
		if (n > ex + 1) {
			sbuf_addc(b, '.');
			sbuf_add(b, d + ex + 1, (size_t)(n - ex - 1));
		} else if (add_dot_0) {
			sbuf_adds(b, ".0");
		} else if (alt) {
			sbuf_addc(b, '.');
		}
	}
}

/* "%.*f" of ax >= 0 for p <= 9 without printf, when the rounding is
 * certain: below 2^40, ax * 10^p is within 2^-13 of the exact product, so
 * unless it lands near a half, rounding it rounds the exact value (ties and
 * near-ties go to printf). False: nothing written. */
static bool fixed_fast(sbuf *b, double ax, int p)
{
	static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };
	if (p < 0 || p > 9)
		return false;
	double c = ax * p10[p];
	if (!(c < 1099511627776.0))
		return false;
	double fl = floor(c), frac = c - fl;
	if (fabs(frac - 0.5) < 1.0 / 2048)
		return false;
	uint64_t q = (uint64_t)fl + (frac > 0.5), scale = (uint64_t)p10[p];
	uint64_t ip = q / scale, fp = q % scale;
	char buf[48], *w = buf + sizeof buf;
	for (int k = 0; k < p; k++) {
		*--w = (char)('0' + fp % 10);
		fp /= 10;
	}
	if (p > 0)
		*--w = '.';
	do {
		*--w = (char)('0' + ip % 10);
		ip /= 10;
	} while (ip);
	sbuf_add(b, w, (size_t)(buf + sizeof buf - w));
	return true;
}

static int format_float(sbuf *out, double x, const fspec *f, const char *spec, value orig, verr *e)
{
	char t = f->type;
	if (t && !strchr("eEfFgGn%", t))
		return bad_spec(spec, orig, e);
	if (t == 'n') {
		if (f->group)
			return bad_spec(spec, orig, e);
		t = 'g';
	}
	bool upper = t == 'E' || t == 'F' || t == 'G';
	bool neg = signbit(x) && !isnan(x);
	int p = f->prec >= 0 ? (int)f->prec : 6;
	sbuf b;
	sbuf_init(&b);
	const char *suffix = t == '%' ? "%" : "";
	if (t == '%')
		x *= 100;
	if (isnan(x) || isinf(x)) {
		sbuf_adds(&b, isnan(x) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf"));
	} else if (t == 'f' || t == 'F' || t == '%') {
		if (f->alt || !fixed_fast(&b, fabs(x), p))
			sbuf_printf(&b, f->alt ? "%#.*f" : "%.*f", p, fabs(x));
	} else if (t == 'e' || t == 'E') {
		sbuf_printf(&b, f->alt ? (upper ? "%#.*E" : "%#.*e") : (upper ? "%.*E" : "%.*e"), p, fabs(x));
	} else if (t == 'g' || t == 'G') {
		general_body(&b, x, p, f->alt, false, upper);
	} else if (f->prec >= 0) {
		general_body(&b, x, p, f->alt, true, false);
	} else {
		repr_body(&b, x);
		if (f->alt && !memchr(b.data, '.', b.len)) {
			/* '#' keeps a point: 1e+16 -> 1.e+16 */
			char *ep = memchr(b.data, 'e', b.len);
			if (ep) {
				size_t at = (size_t)(ep - b.data);
				sbuf_addc(&b, ' ');
				memmove(b.data + at + 1, b.data + at, b.len - 1 - at);
				b.data[at] = '.';
			}
		}
	}
	sbuf_adds(&b, suffix);
	if (neg && f->z && !isnan(x)) {
		/* 'z': a result that rounds to zero loses its minus sign */
		bool allzero = true;
		for (size_t i = 0; i < b.len && allzero; i++) {
			char c = b.data[i];
			if (c == 'e' || c == 'E')
				break;
			if (c >= '1' && c <= '9')
				allzero = false;
			if (c == 'i' || c == 'I')
				allzero = false;
		}
		if (allzero)
			neg = false;
	}
	/* split: leading digits get grouped, the rest is kept as is */
	size_t nd = 0;
	while (nd < b.len && b.data[nd] >= '0' && b.data[nd] <= '9')
		nd++;
	char *digits = malloc(nd + 1);
	if (!digits)
		val_oom(nd + 1);
	memcpy(digits, b.data, nd);
	digits[nd] = '\0';
	emit_number(out, f, sign_text(f, neg), "", digits, nd, b.data + nd, '>');
	free(digits);
	sbuf_fini(&b);
	return 0;
}

static int format_text(sbuf *out, const char *s, size_t n, const fspec *f, const char *spec,
                       value orig, verr *e)
{
	if ((f->type && f->type != 's') || f->sign || f->alt || f->group || f->z ||
	    (f->align == '=' && f->align_given))
		return bad_spec(spec, orig, e);
	size_t cps = cp_count(s, n);
	if (f->prec >= 0 && (size_t)f->prec < cps) {
		/* truncate to prec code points */
		size_t i = 0, c = 0;
		while (i < n && c < (size_t)f->prec) {
			i += utf8_len1((unsigned char)s[i]);
			c++;
		}
		n = i < n ? i : n;
		cps = (size_t)f->prec;
	}
	size_t pad = (f->width > 0 && (size_t)f->width > cps) ? (size_t)f->width - cps : 0;
	char align = f->align ? f->align : '<';
	if (align == '>')
		add_fill(out, f, pad);
	else if (align == '^')
		add_fill(out, f, pad / 2);
	sbuf_add(out, s, n);
	if (align == '<')
		add_fill(out, f, pad);
	else if (align == '^')
		add_fill(out, f, pad - pad / 2);
	return 0;
}

int val_format(sbuf *out, value v, const char *spec, verr *e)
{
	if (!spec)
		spec = "";
	if (!*spec) {
		val_str(out, v);
		return 0;
	}
	fspec f;
	if (!parse_spec(spec, &f))
		return bad_spec(spec, v, e);
	/* the '0' flag without an explicit align means '=' for numbers only */
	switch (v.t) {
	case V_INT:
		if (f.type && strchr("eEfFgG%", f.type))
			return format_float(out, (double)v.as.i, &f, spec, v, e);
		return format_int(out, v.as.i, &f, spec, v, e);
	case V_FLOAT:
		return format_float(out, v.as.f, &f, spec, v, e);
	case V_BOOL:
		/* as text ("true") unless a numeric presentation is asked for */
		if (f.type && f.type != 's')
			return format_int(out, v.as.b, &f, spec, v, e);
		if (f.sign || f.group)
			return format_int(out, v.as.b, &f, spec, v, e);
		if (!f.align_given)
			f.align = '\0';
		return format_text(out, v.as.b ? "true" : "false", v.as.b ? 4 : 5, &f, spec, v, e);
	case V_STR:
		if (!f.align_given)
			f.align = '\0'; /* "05" on a str pads with 0 on the right */
		return format_text(out, str_data(v), str_len(v), &f, spec, v, e);
	default: {
		sbuf s;
		sbuf_init(&s);
		val_str(&s, v);
		if (!f.align_given)
			f.align = '\0';
		int rc = format_text(out, s.data ? s.data : "", s.len, &f, spec, v, e);
		sbuf_fini(&s);
		return rc;
	}
	}
}
