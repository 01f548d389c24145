/* mod_str.c - the `str` module (format, repr) and Python's str.format,
 * which the s.format() method shares. */
#include <stdlib.h>
#include <string.h>

#include "stdlib_impl.h"

/* The argument index of field name `field` ("" automatic, "0" manual);
 * -1 after raising. *next and *mode carry the numbering (0 unknown, 1
 * automatic, 2 manual) across fields. */
static int field_index(flow_vm *vm, const char *field, int nargs, int *next, int *mode)
{
	int idx;
	if (field[0] == 0) {
		if (*mode == 2)
			return vm_raise(vm, "format: cannot switch from manual field numbering to automatic"), -1;
		*mode = 1;
		idx = (*next)++;
	} else {
		char *end;
		long k = strtol(field, &end, 10);
		if (*end || field[0] < '0' || field[0] > '9')
			return vm_raise(vm, "format: field '%s' is not a number (named fields are not supported)",
			                field), -1;
		if (*mode == 1)
			return vm_raise(vm, "format: cannot switch from automatic field numbering to manual"), -1;
		*mode = 2;
		idx = k > nargs ? nargs : (int)k;
	}
	if (idx >= nargs)
		return vm_raise(vm, "format: field {%d} but only %d argument%s", idx, nargs,
		                nargs == 1 ? "" : "s"), -1;
	return idx;
}

/* Replacement fields: "{}", "{0}", "{:spec}", "{0!r:spec}", and fields
 * nested in a spec, "{:>{}}" (one level, as Python); "{{" and "}}" are
 * literal braces. Automatic and manual numbering cannot be mixed. */
int sl_format(flow_vm *vm, value fmt, const value *args, int nargs, value *out)
{
	if (sl_str(vm, fmt, "format", "the format") < 0)
		return -1;
	const char *s = str_data(fmt);
	size_t n = str_len(fmt), i = 0;
	int next = 0;       /* automatic numbering */
	int mode = 0;       /* 0 unknown, 1 automatic, 2 manual */
	sbuf b;
	sbuf_init(&b);
	while (i < n) {
		char c = s[i];
		if (c == '}') {
			if (i + 1 < n && s[i + 1] == '}') {
				sbuf_addc(&b, '}');
				i += 2;
				continue;
			}
			sbuf_fini(&b);
			return vm_raise(vm, "format: single '}' in the format string");
		}
		if (c != '{') {
			sbuf_addc(&b, c);
			i++;
			continue;
		}
		if (i + 1 < n && s[i + 1] == '{') {
			sbuf_addc(&b, '{');
			i += 2;
			continue;
		}
		/* the matching '}', past fields nested in the spec */
		const char *close = NULL;
		int depth = 0;
		for (size_t k = i + 1; k < n && !close; k++) {
			if (s[k] == '{')
				depth++;
			else if (s[k] == '}' && depth-- == 0)
				close = s + k;
		}
		if (!close) {
			sbuf_fini(&b);
			return vm_raise(vm, "format: '{' without a matching '}'");
		}
		/* field [!conv] [:spec] */
		char field[256];
		size_t flen = (size_t)(close - (s + i + 1));
		if (flen >= sizeof field) {
			sbuf_fini(&b);
			return vm_raise(vm, "format: replacement field too long");
		}
		memcpy(field, s + i + 1, flen);
		field[flen] = 0;
		i = (size_t)(close - s) + 1;
		char *spec = strchr(field, ':');
		if (spec)
			*spec++ = 0;
		char conv = 0;
		char *bang = strchr(field, '!');
		if (bang) {
			conv = bang[1];
			if ((conv != 'r' && conv != 's') || bang[2]) {
				sbuf_fini(&b);
				return vm_raise(vm, "format: unknown conversion '!%s'", bang + 1);
			}
			*bang = 0;
		}
		if (strchr(field, '{') || strchr(field, '}')) {
			sbuf_fini(&b);
			return vm_raise(vm, "format: a field name cannot hold a brace");
		}
		int idx = field_index(vm, field, nargs, &next, &mode);
		if (idx < 0) {
			sbuf_fini(&b);
			return -1;
		}
		/* nested fields of the spec, numbered after the outer field */
		char specbuf[512];
		if (spec && strchr(spec, '{')) {
			sbuf sp;
			sbuf_init(&sp);
			for (char *q = spec; *q;) {
				if (*q != '{') {
					sbuf_addc(&sp, *q++);
					continue;
				}
				char *qe = strchr(q, '}');
				char inner[256];
				size_t il = qe ? (size_t)(qe - q - 1) : 0;
				if (!qe || memchr(q + 1, '{', il)) {
					sbuf_fini(&sp);
					sbuf_fini(&b);
					return vm_raise(vm, "format: fields nest one level deep in a spec");
				}
				memcpy(inner, q + 1, il);
				inner[il] = 0;
				int j = field_index(vm, inner, nargs, &next, &mode);
				value w;
				if (j < 0 || sl_resolve(vm, args[j], &w) < 0) {
					sbuf_fini(&sp);
					sbuf_fini(&b);
					return -1;
				}
				val_str(&sp, w);
				val_rele(w);
				q = qe + 1;
			}
			if (sp.len >= sizeof specbuf) {
				sbuf_fini(&sp);
				sbuf_fini(&b);
				return vm_raise(vm, "format: spec too long");
			}
			memcpy(specbuf, sp.data, sp.len);
			specbuf[sp.len] = 0;
			sbuf_fini(&sp);
			spec = specbuf;
		}
		value v;
		if (sl_resolve(vm, args[idx], &v) < 0) {
			sbuf_fini(&b);
			return -1;
		}
		verr e;
		int r = 0;
		if (conv) {
			sbuf t;
			sbuf_init(&t);
			if (conv == 'r')
				val_repr(&t, v);
			else
				val_str(&t, v);
			value tv = str_take_sbuf(&t);
			r = val_format(&b, tv, spec ? spec : "", &e);
			val_rele(tv);
		} else {
			r = val_format(&b, v, spec ? spec : "", &e);
		}
		val_rele(v);
		if (r < 0) {
			sbuf_fini(&b);
			return vm_raise(vm, "format: %s", e.msg);
		}
	}
	*out = str_take_sbuf(&b);
	return 0;
}

static int s_format(flow_vm *vm, value *argv, int argc, value *out)
{
	if (argc < 1)
		return vm_raise(vm, "str.format() needs a format string");
	return sl_format(vm, argv[0], argv + 1, argc - 1, out);
}

static int s_repr(flow_vm *vm, value *argv, int argc, value *out)
{
	value v;
	if (sl_resolve(vm, argv[0], &v) < 0)
		return -1;
	sbuf b;
	sbuf_init(&b);
	val_repr(&b, v);
	val_rele(v);
	*out = str_take_sbuf(&b);
	return 0;
}

static const native_def fns[] = {
	{ "format", s_format, "*", 0 },
	{ "repr", s_repr, "v", 0 },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_str = { "str", fns, NULL };
