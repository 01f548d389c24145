/* opcodes.h - the VM's instruction set and each instruction's facts,
 * listed once (X-macro).
 *
 * THE ORDER OF THIS LIST IS THE PLAN FORMAT: plan files store raw opcode
 * numbers (an instruction's position here). Adding, removing or moving an
 * opcode, or changing a format or the facts of one, needs a new
 * PLAN_VERSION (compiler/plan.h) and a new PLAN_OPCODES_FINGERPRINT
 * beside it; tests/unit/test_plan.c fails until both are updated.
 *
 * Include with OP(NAME, FORMAT, READS, WRITES, FLAGS, SYMBOL, "comment")
 * defined (or OP(NAME, ...) when only the name is needed). An instruction
 * is 32 bits: op in bits 0-7, A in 8-15, B in 16-23, C in 24-31; Bx is
 * B|C<<8 (16 bits, unsigned), sBx is Bx - 32767, sJ is bits 8-31 signed
 * (24 bits). R[x] is register x of the frame, K[x] constant x of the proto.
 *
 * FORMAT (what the operands mean; bc_dump and the verifier use it): ABC
 * plain; AB, A; AK (A, Bx = constant); AP (A, Bx = proto index); AACT (A,
 * Bx = actor index); AsBx; sJ; ABI (A, B, C = signed 8-bit immediate);
 * ANAT (A, B = native slot, C = argc); AMS (A, B = method site, C = argc);
 * AG (A, B = module, C = global); AX (Bx = constant).
 *
 * READS, WRITES: the registers the instruction reads and writes, an OR of
 * single registers (OPR_A, OPR_A1 = A+1, OPR_A2 = A+2, OPR_B, OPR_C) and
 * at most one run of registers (OPR_RUN(...), see bytecode.h). A run
 * whose length comes from a proto, an actor or a native is sized by the
 * program (bc_insn_regs). Registers written by a call's callee frame
 * (A and up, OPF_CALL) are not listed: only the result A is.
 *
 * FLAGS (OPF_*, bytecode.h): control flow (JUMP, BRANCH, SKIP, END),
 * CALL, EXTRA (an EXTRAARG follows when C != 0), KSTR (K[Bx] must be a
 * string), INIT (module init only), NODE (may become a DAG node while
 * lowering), EFFECT (touches state outside its frame: self, module
 * globals, a new actor).
 *
 * SYMBOL: how a DAG node of the instruction is labelled (NULL: its name).
 */
OP(MOVE,      AB,   OPR_B, OPR_A, 0, NULL, "R[A] = R[B]")
OP(LOADK,     AK,   0, OPR_A, 0, NULL, "R[A] = K[Bx]")
OP(LOADI,     AsBx, 0, OPR_A, 0, NULL, "R[A] = sBx (int)")
OP(LOADNONE,  A,    0, OPR_A, 0, NULL, "R[A] = none")
OP(LOADBOOL,  AB,   0, OPR_A, 0, NULL, "R[A] = (B != 0)")
OP(GETGLOBAL, AG,   0, OPR_A, 0, NULL, "R[A] = globals of module B [C]")
OP(SETGLOBAL, AG,   OPR_A, 0, OPF_INIT | OPF_EFFECT, NULL, "globals of module B [C] = R[A] (module init only)")
OP(GETSELF,   AK,   0, OPR_A, OPF_KSTR | OPF_EFFECT, NULL, "R[A] = self.K[Bx]")
OP(SETSELF,   AK,   OPR_A, 0, OPF_KSTR | OPF_EFFECT, NULL, "self.K[Bx] = R[A]")
OP(NEWLIST,   AB,   OPR_RUN(A1, B), OPR_A, 0, NULL, "R[A] = [R[A+1] .. R[A+B]]")
OP(LISTAPPEND, AB,  OPR_A | OPR_B, OPR_A, 0, NULL, "R[A].append(R[B])")
OP(NEWDICT,   AB,   OPR_RUN(A1, 2B), OPR_A, 0, NULL, "R[A] = {R[A+1]: R[A+2], ...} (B pairs)")
OP(DICTSET,   ABC,  OPR_A | OPR_B | OPR_C, OPR_A, 0, NULL, "R[A][R[B]] = R[C] (building a dict literal)")
OP(ADD,       ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "+", "R[A] = R[B] + R[C]")
OP(SUB,       ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "-", "R[A] = R[B] - R[C]")
OP(MUL,       ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "*", "R[A] = R[B] * R[C]")
OP(DIV,       ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "/", "R[A] = R[B] / R[C]")
OP(FLOORDIV,  ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "//", "R[A] = R[B] // R[C]")
OP(MOD,       ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "%", "R[A] = R[B] % R[C]")
OP(POW,       ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "**", "R[A] = R[B] ** R[C]")
OP(MATMUL,    ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "@", "R[A] = R[B] @ R[C]")
OP(ADDI,      ABI,  OPR_B, OPR_A, OPF_NODE, "+", "R[A] = R[B] + sC")
OP(NEG,       AB,   OPR_B, OPR_A, OPF_NODE, "-x", "R[A] = -R[B]")
OP(NOT,       AB,   OPR_B, OPR_A, OPF_NODE, "not", "R[A] = not R[B]")
OP(EQ,        ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "==", "R[A] = R[B] == R[C]")
OP(NE,        ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "!=", "R[A] = R[B] != R[C]")
OP(LT,        ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "<", "R[A] = R[B] < R[C]")
OP(LE,        ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "<=", "R[A] = R[B] <= R[C]")
OP(IN,        ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "in", "R[A] = R[B] in R[C]")
OP(NOTIN,     ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "not in", "R[A] = R[B] not in R[C]")
OP(IFEQ,      ABC,  OPR_A | OPR_B, 0, OPF_SKIP, NULL, "if (R[A] == R[B]) == C then do the next JMP, else skip it")
OP(IFLT,      ABC,  OPR_A | OPR_B, 0, OPF_SKIP, NULL, "if (R[A] < R[B]) == C then do the next JMP, else skip it")
OP(IFLE,      ABC,  OPR_A | OPR_B, 0, OPF_SKIP, NULL, "if (R[A] <= R[B]) == C then do the next JMP, else skip it")
OP(TEST,      ABC,  OPR_A, 0, OPF_SKIP, NULL, "if truthy(R[A]) == C then do the next JMP, else skip it")
OP(JMP,       sJ,   0, 0, OPF_JUMP, NULL, "pc += sJ")
OP(INDEX,     ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "[]", "R[A] = R[B][R[C]]")
OP(SETINDEX,  ABC,  OPR_A | OPR_B | OPR_C, OPR_A, 0, NULL, "R[A][R[B]] = R[C] (a frozen R[A] is thawed in place first)")
OP(SLICE,     ABC,  OPR_RUN(B, 4), OPR_A, OPF_NODE, "[:]", "R[A] = R[B][R[B+1]:R[B+2]:R[B+3]], C = mask of parts present (1 lo, 2 hi, 4 step)")
OP(BINDMETHOD, ABC, OPR_B | OPR_C, OPR_A, OPF_NODE, ".method", "R[A] = bound method R[B].(name in R[C], a constant)")
OP(CALL,      ABC,  OPR_RUN(A, B1), OPR_A, OPF_CALL | OPF_EXTRA | OPF_NODE, "call", "R[A] = R[A](R[A+1] .. R[A+B]); C keyword args last, names in next EXTRAARG's K")
OP(CALLP,     AP,   OPR_RUN(A, PROTO), OPR_A, OPF_CALL | OPF_NODE, NULL, "R[A] = fn proto Bx (R[A] ..), arguments already matched")
OP(CALLT,     AP,   OPR_RUN(A, PROTO), OPR_A, OPF_CALL, NULL, "R[A] = future of task proto Bx (R[A] ..)")
OP(NEWACTOR,  AACT, OPR_RUN(A, INIT), OPR_A, OPF_CALL | OPF_EFFECT, NULL, "R[A] = new actor Bx (R[A] ..)")
OP(NATIVE,    ANAT, OPR_RUN(A, C), OPR_A, OPF_CALL | OPF_NODE, NULL, "R[A] = native slot B (R[A] .. R[A+C-1])")
OP(METHOD,    AMS,  OPR_RUN(A1, C1), OPR_A, OPF_CALL | OPF_NODE, NULL, "R[A] = R[A+1].method site B (R[A+2] .. R[A+1+C])")
OP(RETURN,    A,    OPR_A, 0, OPF_END, NULL, "return R[A]")
OP(RETURN0,   A,    0, 0, OPF_END, NULL, "return none")
OP(FORPREP,   AsBx, OPR_A | OPR_A1 | OPR_A2, OPR_A | OPR_A1 | OPR_A2, OPF_BRANCH, NULL, "range loop over R[A]=start, R[A+1]=stop, R[A+2]=step: check, jump sBx if empty")
OP(FORLOOP,   AsBx, OPR_A | OPR_A1 | OPR_A2, OPR_A, OPF_BRANCH, NULL, "R[A] += R[A+2]; if still in range jump sBx")
OP(ITERPREP,  AB,   OPR_B, OPR_A | OPR_A1, 0, NULL, "R[A] = sequence to iterate from R[B] (dict: its keys), R[A+1] = 0")
OP(ITERNEXT,  AB,   OPR_A | OPR_A1, OPR_A1 | OPR_B, OPF_SKIP, NULL, "if R[A+1] < len(R[A]): R[B] = next item and skip the next JMP, else do it")
OP(UNPACK,    ABC,  OPR_A, OPR_B | OPR_C, OPF_NODE, "unpack", "R[B], R[C] = R[A] (a list of exactly two)")
OP(TOSTR,     AB,   OPR_B, OPR_A, OPF_NODE, "f-string", "R[A] = str(R[B])")
OP(FORMAT,    ABC,  OPR_B | OPR_C, OPR_A, OPF_NODE, "f-string", "R[A] = format(R[B], spec R[C])")
OP(CONCAT,    ABC,  OPR_RUN(B, C), OPR_A, OPF_NODE, "f-string", "R[A] = R[B] + ... + R[B+C-1] (strings)")
OP(CHECKTYPE, AK,   OPR_A, 0, OPF_KSTR, NULL, "error unless R[A] has the type named K[Bx]")
OP(EXTRAARG,  AX,   0, 0, OPF_END, NULL, "operand of the previous instruction (executing it is an error)")
OP(TRY,       AsBx, 0, OPR_A, OPF_BRANCH, NULL, "open a handler: an error until its ENDTRY jumps to pc+sBx with the error value in R[A]")
OP(ENDTRY,    A,    0, 0, 0, NULL, "close the innermost handler of this frame")
OP(YIELD,     AB,   OPR_A | OPR_B, OPR_A, 0, NULL, "yield R[B]: a generator run stops and hands it to the stream's consumer; otherwise R[A].append(R[B])")
