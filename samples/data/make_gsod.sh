#!/usr/bin/env bash
# make_gsod.sh - writes the small made-up GSOD data set that 001_gsod.flow
# reads: data/gsod/1980.csv.gz and data/gsod/2020.csv.gz, in the CSV layout
# of NOAA's Global Surface Summary of the Day (every field quoted, NAME
# holding a comma). 1980 has stations 1..30, 2020 stations 11..40 (20 in
# common), twelve readings each. Deterministic: re-running it gives the
# same bytes. Run from anywhere: bash samples/data/make_gsod.sh
set -euo pipefail
cd "$(dirname "$0")/gsod"

make_year() { # year first_station last_station
	awk -v year="$1" -v lo="$2" -v hi="$3" 'BEGIN {
		OFS = ","
		h = "STATION DATE LATITUDE LONGITUDE ELEVATION NAME TEMP TEMP_ATTRIBUTES DEWP DEWP_ATTRIBUTES SLP SLP_ATTRIBUTES STP STP_ATTRIBUTES VISIB VISIB_ATTRIBUTES WDSP WDSP_ATTRIBUTES MXSPD GUST MAX MAX_ATTRIBUTES MIN MIN_ATTRIBUTES PRCP PRCP_ATTRIBUTES SNDP FRSHTT"
		n = split(h, cols, " ")
		line = ""
		for (i = 1; i <= n; i++) line = line (i > 1 ? "," : "") "\"" cols[i] "\""
		print line
		seed = year
		for (st = lo; st <= hi; st++) {
			for (m = 1; m <= 12; m++) {
				seed = (seed * 1103515245 + 12345) % 2147483648
				# hotter in summer, hotter in 2020
				base = 55 + 30 * (m >= 5 && m <= 9) + (year == 2020 ? 3 : 0)
				temp = base + (seed % 250) / 10.0
				f[1] = sprintf("%08d", 72000000 + st)
				f[2] = sprintf("%d-%02d-15", year, m)
				f[3] = sprintf("%.4f", 30 + st / 7.0)
				f[4] = sprintf("%.4f", -110 - st / 3.0)
				f[5] = sprintf("%.1f", 100 + 17 * st)
				f[6] = sprintf("STATION %d, AZ US", st)
				f[7] = sprintf("%.1f", temp)
				f[8] = "24"
				f[9] = sprintf("%.1f", temp - 20)
				f[10] = "24"
				f[11] = "1013.2"; f[12] = "24"; f[13] = "960.1"; f[14] = "24"
				f[15] = "10.0"; f[16] = "24"; f[17] = "5.2"; f[18] = "24"
				f[19] = "12.0"; f[20] = "999.9"
				f[21] = sprintf("%.1f", temp + 8); f[22] = " "
				f[23] = sprintf("%.1f", temp - 12); f[24] = " "
				f[25] = "0.00"; f[26] = "G"; f[27] = "999.9"; f[28] = "000000"
				line = ""
				for (i = 1; i <= 28; i++) line = line (i > 1 ? "," : "") "\"" f[i] "\""
				print line
			}
		}
	}' | gzip -n -9 >"$1.csv.gz"
}

make_year 1980 1 30
make_year 2020 11 40
