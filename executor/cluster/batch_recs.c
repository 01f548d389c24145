/* batch_recs.c - encoded records (batch.h: bt_recs): the calls and
 * outcomes a batch carries, and a call's outcome encoded as one. */
#include "batch_int.h"
#include "objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bt_recs_init(bt_recs *r)
{
	memset(r, 0, sizeof *r);
	sbuf_init(&r->data);
}

void bt_recs_add(bt_recs *r, const void *rec, size_t len, uint32_t tag)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		r->len = xrealloc(r->len, r->cap * sizeof *r->len);
		r->tag = xrealloc(r->tag, r->cap * sizeof *r->tag);
	}
	r->len[r->n] = (uint32_t)len;
	r->tag[r->n++] = tag;
	sbuf_add(&r->data, rec, len);
}

void bt_recs_fini(bt_recs *r)
{
	sbuf_fini(&r->data);
	free(r->len);
	free(r->tag);
	memset(r, 0, sizeof *r);
}

uint32_t bt_recs_take(bt_recs *r, sbuf *frame)
{
	if (r->n == 0)
		return 0; /* its buffers may not exist yet (memmove of NULL) */
	size_t n = 0, bytes = 0;
	while (n < r->n && n < WIRE_MAX_LIST && (n == 0 || bytes + r->len[n] <= BT_MAX_RECORD)) {
		/* the first always goes (records are made to fit; never spin) */
		bytes += r->len[n];
		n++;
	}
	sbuf_add(frame, r->data.data, bytes);
	memmove(r->data.data, (char *)r->data.data + bytes, r->data.len - bytes);
	r->data.len -= bytes;
	memmove(r->len, r->len + n, (r->n - n) * sizeof *r->len);
	memmove(r->tag, r->tag + n, (r->n - n) * sizeof *r->tag);
	r->n -= n;
	return (uint32_t)n;
}

void bt_encode_done(struct wire_done *d, bt_recs *out, uint32_t tag)
{
	sbuf b;
	verr e;
	sbuf_init(&b);
	/* a large result stays here as an object; its consumer pulls it */
	value keep = d->result, ref = v_none();
	if (d->ok == WIRE_DONE_OK && obj_export(keep, &ref, &e) == 0)
		d->result = ref;
	int rc = wire_encode_done(d, &b, &e);
	if ((rc != WIRE_OK || b.len > BT_MAX_RECORD) && d->ok == WIRE_DONE_FAILED &&
	    d->result.t != V_NONE) {
		/* a failure's cause (an error value) that does not fit: the
		 * failure goes without it (the caller sees the call's own) */
		b.len = 0;
		d->result = v_none();
		rc = wire_encode_done(d, &b, &e);
	}
	if (rc != WIRE_OK || b.len > BT_MAX_RECORD) {
		char msg[400];
		if (b.len > BT_MAX_RECORD)
			snprintf(msg, sizeof msg, "the task's result cannot be sent to another node: "
			         "%zu bytes (at most %u in one message)", b.len, (unsigned)BT_MAX_RECORD);
		else
			snprintf(msg, sizeof msg, "the task's result cannot be sent to another node: %s", e.msg);
		struct wire_done f = *d;
		f.ok = WIRE_DONE_UNSENDABLE; /* the status says so, not the text */
		f.result = v_none();
		f.error = msg;
		f.output = NULL; /* the prints may be what is too large */
		b.len = 0;
		if (wire_encode_done(&f, &b, &e) != WIRE_OK)
			abort(); /* strings within their limits always encode */
	}
	bt_recs_add(out, b.data, b.len, tag);
	sbuf_fini(&b);
	d->result = keep;
	val_rele(ref);
}
