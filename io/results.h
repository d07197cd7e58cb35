/* kelvin — what an external simulator returns: its scalar responses, read back from a results
 * file in any of the forms simulators write: "name value" lines (also "name = value" and
 * "name: value"), Dakota's results file ("value name" lines, or bare values in the order of the
 * responses), CSV (a header of names and one row), or a flat JSON object.
 */
#ifndef KV_RESULTS_H
#define KV_RESULTS_H

/* Read the n responses names[] from path into values[]: the form is told by the extension
 * (.json, .csv) or else by the content. A missing response, a value that is not a finite number,
 * and a response given twice are errors (KV_ERR_FORMAT) naming the file, line and response;
 * names the file holds beyond names[] are ignored. Not collective. */
int kv_results_read(const char *path, int n, const char *const *names, double *values);

#endif
