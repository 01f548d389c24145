/* tls_opts.c - --tls-cert/--tls-key/--tls-ca, shared by the commands that
 * reach a cluster: see cli.h. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "executor/cluster/tls.h"

static const char *pick(const char *given, const char *env)
{
	if (given)
		return given;
	const char *v = getenv(env);
	return v && *v ? v : NULL;
}

bool cli_tls_given(const cli_tls *t)
{
	return t->cert || t->key || t->ca;
}

int cli_tls_setup(const char *cmd, const cli_tls *t)
{
	const char *cert = pick(t->cert, "FLOW_TLS_CERT"), *key = pick(t->key, "FLOW_TLS_KEY"),
	           *ca = pick(t->ca, "FLOW_TLS_CA");
	if (!cert && !key && !ca)
		return 0;
	if (!cert || !key || !ca) {
		const char *missing = !cert ? "--tls-cert" : !key ? "--tls-key" : "--tls-ca";
		return cli_usage_error(cmd, "TLS needs --tls-cert, --tls-key and --tls-ca together "
		                       "(or $FLOW_TLS_CERT/KEY/CA); %s is missing", missing);
	}
	verr e;
	if (tls_configure(cert, key, ca, &e) != 0) {
		fprintf(stderr, "flow %s: %s\n", cmd, e.msg);
		return EXIT_USER;
	}
	return 0;
}
