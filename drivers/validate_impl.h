/* kelvin — what the files of kelvin validate share (drivers/validate*.c only). */
#ifndef KV_VALIDATE_IMPL_H
#define KV_VALIDATE_IMPL_H

#include "drivers/sweep.h"
#include "drivers/validate.h"
#include "io/h5.h"
#include "io/layout.h"
#include "surrogates/surrogate.h"

/* Add weight * x to metric m (and mark it present). */
void kv_validation_add(kv_validation *v, int m, double x, double weight);

/* validate_report.c: validation.md (what: the paragraph above the table; maps: markdown of the
 * PNG maps, may be ""), the maps of truth, prediction and error of one case (markdown of them
 * into md), and the coordinates and metrics of validation.h5. Not collective. */
int kv_validate_write_report(const kv_validation *v, const char *what, const char *maps);
int kv_validate_write_maps(const kv_validation *v, const kv_field_layout *L, const double *truth,
                           const double *pred, long np, const char *label, char *md, size_t mdn);
/* validation.h5 is a CF netCDF-4 file: the coordinate "case" (ncases, its long_name) and the
 * layout's axes (L may be NULL) with units and standard names. */
int kv_validate_store_coords(kv_h5_store *h, const kv_field_layout *L, long ncases,
                             const char *case_long_name);
/* A variable name over (case, [lead], axes of L...) with units, long_name and the CF
 * "coordinates" (auxiliary coordinates, e.g. the inputs; each may be NULL). */
int kv_validate_store_var(kv_h5_store *h, const char *name, long ncases, const kv_field_layout *L,
                          const char *lead, long nlead, const double *v, const char *units,
                          const char *long_name, const char *coordinates);
/* kv_validate_write_maps, then its markdown appended to what (after a blank line). */
int kv_validate_append_maps(const kv_validation *v, const kv_field_layout *L, const double *truth,
                            const double *pred, long np, const char *label, char *what, size_t whn);
/* The metrics: attributes of /metrics, and root scalar variables with units (units: those of the
 * output, for the absolute errors). */
int kv_validate_store_metrics(kv_h5_store *h, const kv_validation *v, const char *units);

/* validate_score.c: the held-out design points of a scalar or field surrogate, and the held-out
 * scenarios of a scenario surrogate (with the members study). solver_wall: the full solver's
 * mean wall time per case. Rank 0 only. */
int kv_validate_score_points(const kv_config *cfg, const kv_validate_params *vp, const kv_sweep *hs,
                             const kv_surrogate *s, double solver_wall, kv_validation *v,
                             char *what, size_t whn);
int kv_validate_score_scenarios(const kv_config *cfg, const kv_validate_params *vp,
                                const kv_sweep *hs, const kv_surrogate *s, double solver_wall,
                                kv_validation *v, char *what, size_t whn);

/* validate_rom.c: the ROM runs of the held-out cases (rs) against the full solver's (hs),
 * every record of the state variable var. */
int kv_validate_score_rom(const kv_sweep *hs, const kv_sweep *rs, const char *var, double full_wall,
                          double rom_wall, kv_validation *v, char *what, size_t whn);

#endif
