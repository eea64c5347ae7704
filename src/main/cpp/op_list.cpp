// The op list compiled in (qat4j_ops.inc): lets OpListTest compare it with the Java enum dev.qat4j.backend.Op.
#include "qat4j_kernels.h"

extern "C" int qat4j_op_count(void) { return QAT4J_OP_COUNT; }

extern "C" const char* qat4j_op_name(int op) {
    static const char* const names[] = {
#define QAT4J_OP(id, name) name,
#include "qat4j_ops.inc"
#undef QAT4J_OP
    };
    return op >= 0 && op < QAT4J_OP_COUNT ? names[op] : "";
}
