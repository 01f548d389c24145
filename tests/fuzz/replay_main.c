/* replay_main.c - runs a libFuzzer harness over stored inputs without
 * libFuzzer (a normal build, the unit suite): each argument is a file or a
 * folder of files, each file one input. A harness aborts on a broken
 * invariant, so a clean exit means every input kept them.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* fuzz_wire's counters, when it is the harness */
extern long fuzz_wire_authed __attribute__((weak));
extern long fuzz_wire_replays_refused __attribute__((weak));

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) != 0)
				return 1;
			files++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", argv[i], de->d_name);
			if (run_file(p) != 0) {
				closedir(d);
				return 1;
			}
			files++;
		}
		if (d)
			closedir(d);
	}
	printf("replayed %d inputs: every invariant held\n", files);
	if (&fuzz_wire_authed) {
		/* the seeds must reach a handshake that passes and a replayed proof */
		printf("fuzz_wire: %ld connections authenticated, %ld replayed AUTHs refused\n",
		       fuzz_wire_authed, fuzz_wire_replays_refused);
		if (!fuzz_wire_authed || !fuzz_wire_replays_refused)
			return 1;
	}
	return files > 0 ? 0 : 1;
}
