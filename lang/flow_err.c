/* flow_err.c - flow_strerror over the one list of codes (flow_err.h). */
#include "flow_err.h"

const char *flow_strerror(int code)
{
	switch (code) {
#define FLOW_ERR_CASE(name, value, msg) case name: return msg;
	FLOW_ERR_LIST(FLOW_ERR_CASE)
#undef FLOW_ERR_CASE
	}
	return "unknown error";
}
