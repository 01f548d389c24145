/* test_opcodes.c - the opcode table (lang/opcodes.h): its fingerprint is
 * the one recorded beside PLAN_VERSION, its facts agree with each other,
 * bc_insn_regs/bc_insn_succ read them right, and bc_verify_proto (lang/
 * verify.c) refuses code that breaks them without any plan file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "lang/bytecode.h"
#include "lang/verify.h"

/* Plans store raw opcode numbers: a changed list needs a new plan format. */
static void test_fingerprint_matches_plan_version(void **state)
{
	(void)state;
	uint64_t h = bc_ops_fingerprint();
	if (h != PLAN_OPCODES_FINGERPRINT)
		fail_msg("lang/opcodes.h changed (fingerprint 0x%016" PRIx64 ", plan format %u records 0x%016" PRIx64
		         "): raise PLAN_VERSION in compiler/plan.h, set PLAN_OPCODES_FINGERPRINT to 0x%016" PRIx64 "ull "
		         "and run tests/fuzz/make_corpus.sh",
		         h, PLAN_VERSION, (uint64_t)PLAN_OPCODES_FINGERPRINT, h);
}

/* the fingerprint covers names, order and facts */
static void test_fingerprint_sees_changes(void **state)
{
	(void)state;
	static bc_opinfo t[OP__COUNT];
	memcpy(t, bc_ops, sizeof t);
	uint64_t h = bc_ops_hash(t, OP__COUNT);
	assert_true(h == bc_ops_fingerprint());
	t[OP_ADD].reads = OPR_B;
	assert_false(bc_ops_hash(t, OP__COUNT) == h);
	t[OP_ADD] = bc_ops[OP_ADD];
	t[OP_ADD].name = "ADDX";
	assert_false(bc_ops_hash(t, OP__COUNT) == h);
	t[OP_ADD] = bc_ops[OP_ADD];
	t[OP_ADD].flags |= OPF_EFFECT;
	assert_false(bc_ops_hash(t, OP__COUNT) == h);
	t[OP_ADD] = bc_ops[OP_ADD];
	t[OP_SUB] = bc_ops[OP_MUL];
	t[OP_MUL] = bc_ops[OP_SUB];
	assert_false(bc_ops_hash(t, OP__COUNT) == h);
	assert_false(bc_ops_hash(bc_ops, OP__COUNT - 1) == h);
	t[OP_SUB] = bc_ops[OP_SUB];
	t[OP_MUL] = bc_ops[OP_MUL];
	t[OP_ADD].symbol = "plus"; /* a label is not part of the format */
	assert_true(bc_ops_hash(t, OP__COUNT) == h);
}

/* facts that must agree with each other and with the formats */
static void test_table_is_consistent(void **state)
{
	(void)state;
	for (int op = 0; op < OP__COUNT; op++) {
		const bc_opinfo *o = &bc_ops[op];
		unsigned f = o->flags;
		assert_string_equal(o->name, bc_op_names[op]);
		/* one kind of control flow at most */
		int cf = !!(f & OPF_JUMP) + !!(f & OPF_BRANCH) + !!(f & OPF_SKIP) + !!(f & OPF_END);
		assert_true(cf <= 1);
		if (f & OPF_JUMP)
			assert_int_equal(o->fmt, OPFMT_sJ);
		if (f & OPF_BRANCH)
			assert_int_equal(o->fmt, OPFMT_AsBx);
		if (f & OPF_KSTR)
			assert_int_equal(o->fmt, OPFMT_AK);
		if (f & OPF_INIT)
			assert_int_equal(o->fmt, OPFMT_AG);
		/* a call returns into A; a node makes a value */
		if (f & (OPF_CALL | OPF_NODE))
			assert_true(o->writes != 0);
		if (f & OPF_CALL)
			assert_true(o->writes & OPR_A);
		/* a symbol labels a DAG node only */
		if (o->symbol)
			assert_true(f & OPF_NODE);
		/* runs whose length a proto, actor or native gives need that index */
		int rr = OPR_RUNOF(o->reads);
		if (rr == OPRUN_A_PROTO)
			assert_int_equal(o->fmt, OPFMT_AP);
		if (rr == OPRUN_A_INIT)
			assert_int_equal(o->fmt, OPFMT_AACT);
		if (rr == OPRUN_A_C)
			assert_int_equal(o->fmt, OPFMT_ANAT);
		if (rr == OPRUN_A1_C1)
			assert_int_equal(o->fmt, OPFMT_AMS);
		assert_int_equal(OPR_RUNOF(o->writes), OPRUN_NONE);
	}
	assert_int_equal(bc_ops[OP_JMP].flags, OPF_JUMP);
}

/* a proto of the given code, nregs registers, one string constant */
static bc_proto *mk_proto(const uint32_t *code, int n, int nregs)
{
	static value k;
	static span lines[64];
	bc_proto *x = calloc(1, sizeof *x);
	assert_non_null(x);
	x->name = "t";
	x->kind = PROTO_FN;
	x->nregs = nregs;
	x->code = (uint32_t *)code;
	x->ncode = n;
	k = str_from_c("name");
	x->consts = &k;
	x->nconsts = 1;
	x->lines = lines;
	return x;
}

static void test_insn_regs_and_successors(void **state)
{
	(void)state;
	const uint32_t code[] = {
		BC_ABC(OP_ADD, 3, 1, 2),     /* reads 1 2, writes 3 */
		BC_ABC(OP_ADD, 3, 1, 1),     /* reads 1 once */
		BC_ABC(OP_NEWLIST, 4, 3, 0), /* reads 5 6 7, writes 4 */
		BC_ABC(OP_CALL, 2, 2, 0),    /* reads 2 3 4, writes 2 */
		BC_ABC(OP_UNPACK, 1, 5, 6),  /* reads 1, writes 5 6 */
		BC_ABC(OP_ITERNEXT, 4, 7, 0),/* reads 4 5, writes 5 7; a test */
		(uint32_t)OP_JMP | (uint32_t)(-7 & 0xffffff) << 8,
		BC_ABx(OP_FORLOOP, 1, 32767 - 3),
		BC_ABC(OP_NATIVE, 1, 0, 2),  /* native slot 0: none in this proto */
		BC_ABC(OP_RETURN, 0, 0, 0),
	};
	bc_proto *x = mk_proto(code, 10, 8);
	bc_program prog = { .protos = &x, .nprotos = 1 };
	int r[16], s[2];
#define REGS(pc, w, ...) do { \
	const int want_[] = { __VA_ARGS__ }; \
	int n_ = bc_insn_regs(&prog, x, (pc), (w), r, 16); \
	assert_int_equal(n_, (int)(sizeof want_ / sizeof want_[0])); \
	for (int j_ = 0; j_ < n_; j_++) \
		assert_int_equal(r[j_], want_[j_]); \
} while (0)
	REGS(0, false, 1, 2);
	REGS(0, true, 3);
	REGS(1, false, 1);
	REGS(2, false, 5, 6, 7);
	REGS(2, true, 4);
	REGS(3, false, 2, 3, 4);
	REGS(4, false, 1);
	REGS(4, true, 5, 6);
	REGS(5, false, 4, 5);
	REGS(5, true, 5, 7);
	assert_int_equal(bc_insn_regs(&prog, x, 8, false, r, 16), -1);
	assert_int_equal(bc_insn_regs(&prog, x, 2, false, r, 2), -1); /* more than max */
	assert_int_equal(bc_insn_regs(&prog, x, 10, false, r, 16), -1);
	assert_int_equal(bc_insn_succ(x, 0, s), 1);
	assert_int_equal(s[0], 1);
	assert_int_equal(bc_insn_succ(x, 5, s), 2);
	assert_int_equal(s[0], 6);
	assert_int_equal(s[1], 7);
	assert_int_equal(bc_insn_succ(x, 6, s), 1);
	assert_int_equal(s[0], 0);
	assert_int_equal(bc_insn_succ(x, 7, s), 2);
	assert_int_equal(s[0], 8);
	assert_int_equal(s[1], 5);
	assert_int_equal(bc_insn_succ(x, 9, s), 0);
#undef REGS
	val_rele(x->consts[0]);
	free(x);
}

static int verify(const uint32_t *code, int n, int nregs, const char *want)
{
	bc_proto *x = mk_proto(code, n, nregs);
	bc_program prog = { .protos = &x, .nprotos = 1 };
	char *err = NULL;
	int rc = bc_verify_proto(&prog, x, false, &err);
	if (want) {
		assert_int_equal(rc, -1);
		assert_non_null(err);
		if (!strstr(err, want))
			fail_msg("'%s' does not say '%s'", err, want);
	} else {
		if (rc)
			fail_msg("refused: %s", err ? err : "?");
		assert_null(err);
	}
	free(err);
	val_rele(x->consts[0]);
	free(x);
	return rc;
}

static void test_verify_without_a_plan(void **state)
{
	(void)state;
	const uint32_t good[] = { BC_ABx(OP_LOADI, 0, 32767 + 4), BC_ABC(OP_NEWLIST, 1, 1, 0),
	                          BC_ABC(OP_RETURN, 1, 0, 0) };
	verify(good, 3, 3, NULL);
	/* NEWLIST's run reaches past the frame */
	const uint32_t run[] = { BC_ABC(OP_NEWLIST, 1, 2, 0), BC_ABC(OP_RETURN, 1, 0, 0) };
	verify(run, 2, 3, "register 3 of NEWLIST");
	/* UNPACK writes C */
	const uint32_t unpack[] = { BC_ABC(OP_UNPACK, 0, 1, 9), BC_ABC(OP_RETURN0, 0, 0, 0) };
	verify(unpack, 2, 3, "register 9 of UNPACK");
	/* a test not followed by a JMP */
	const uint32_t test[] = { BC_ABC(OP_TEST, 0, 0, 1), BC_ABC(OP_RETURN0, 0, 0, 0) };
	verify(test, 2, 1, "not followed by a JMP");
	/* a jump out of the code */
	const uint32_t jmp[] = { (uint32_t)OP_JMP | 5u << 8 };
	verify(jmp, 1, 1, "outside the code");
	/* GETSELF needs a string constant index in range */
	const uint32_t k[] = { BC_ABx(OP_GETSELF, 0, 3), BC_ABC(OP_RETURN0, 0, 0, 0) };
	verify(k, 2, 1, "constant 3");
	/* the type flow: FORLOOP over a list */
	const uint32_t flow[] = { BC_ABC(OP_NEWLIST, 0, 0, 0), BC_ABx(OP_FORLOOP, 0, 32767 - 1),
	                          BC_ABC(OP_RETURN0, 0, 0, 0) };
	verify(flow, 3, 3, "wrong type");
	/* unknown opcode */
	const uint32_t unk[] = { 0xfeu };
	verify(unk, 1, 1, "unknown opcode");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_matches_plan_version),
		cmocka_unit_test(test_fingerprint_sees_changes),
		cmocka_unit_test(test_table_is_consistent),
		cmocka_unit_test(test_insn_regs_and_successors),
		cmocka_unit_test(test_verify_without_a_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
