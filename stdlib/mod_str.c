/* mod_str.c - the `str` module (format, repr) and Python's str.format,
 * which the s.format() method shares. */
#include <stdlib.h>
#include <string.h>

#include "stdlib_impl.h"

/* Replacement fields: "{}", "{0}", "{:spec}", "{0!r:spec}"; "{{" and "}}"
 * are literal braces. Automatic and manual numbering cannot be mixed. */
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
		const char *close = memchr(s + i + 1, '}', n - i - 1);
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
		if (strchr(field, '{') || (spec && strchr(spec, '{'))) {
			sbuf_fini(&b);
			return vm_raise(vm, "format: nested replacement fields are not supported");
		}
		int idx;
		if (field[0] == 0) {
			if (mode == 2) {
				sbuf_fini(&b);
				return vm_raise(vm, "format: cannot switch from manual field numbering to automatic");
			}
			mode = 1;
			idx = next++;
		} else {
			char *end;
			long k = strtol(field, &end, 10);
			if (*end || field[0] < '0' || field[0] > '9') {
				sbuf_fini(&b);
				return vm_raise(vm, "format: field '%s' is not a number (named fields are not supported)",
				                field);
			}
			if (mode == 1) {
				sbuf_fini(&b);
				return vm_raise(vm, "format: cannot switch from automatic field numbering to manual");
			}
			mode = 2;
			idx = k > nargs ? nargs : (int)k;
		}
		if (idx >= nargs) {
			sbuf_fini(&b);
			return vm_raise(vm, "format: field {%d} but only %d argument%s", idx, nargs,
			                nargs == 1 ? "" : "s");
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
