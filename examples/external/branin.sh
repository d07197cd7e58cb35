#!/bin/sh
# A shell driver with a template, as for a code that reads an input deck: kelvin has made
# input.dat from input.tmpl (values substituted with the format the template asks for); the
# "simulator" here is awk evaluating the Branin function. It writes "name value" lines.
set -e
x1=$(awk '$1 == "x1" {print $3}' input.dat)
x2=$(awk '$1 == "x2" {print $3}' input.dat)
awk -v a="$x1" -v b="$x2" 'BEGIN {
  pi = atan2(0, -1)
  f = (b - 5.1 / (4 * pi * pi) * a * a + 5 / pi * a - 6) ^ 2 + 10 * (1 - 1 / (8 * pi)) * cos(a) + 10
  printf "branin %.17g\n", f
}' > "$1"
