#!/bin/sh
# .venv/bin/caffe: BVLC Caffe's command line, with glog told to write the
# month-day prefix (I0210 13:39:22.381027 ...) that Caffe's own log tools
# (tools/extra/parse_log.py, parse_log.sh, extract_seconds.py; here
# tools/parse_log.py) read: glog 0.6 (Debian 12) otherwise puts the year in
# front (I20260210 ...). Settings already in the environment win.
# setup/setup.sh installs this file as .venv/bin/caffe beside caffe.real, a
# link to the real binary.
GLOG_log_year_in_prefix=${GLOG_log_year_in_prefix:-false}
export GLOG_log_year_in_prefix
here=$(dirname "$(readlink -f "$0")")
exec "$here/caffe.real" "$@"
