/* kelvin — training data: the one reader of what surrogates learn from, read once into a
 * kv_dataset from a CSV table, a sweep directory (manifest + case files) or a scenario ensemble.
 *
 * A dataset holds what its kind says (KV_DATA_*): inputs X (n x d, with names and the range of
 * each column) and a scalar response y; or the final record of a field per row (with the field's
 * layout); or the ensemble-mean field series of named scenarios with their global forcing; or the
 * snapshots of a model's state (and tendency) for a reduced-order basis. Surrogates see only this,
 * never the solvers that made it.
 */
#ifndef KV_DATASET_H
#define KV_DATASET_H

#include "io/config.h"
#include "io/h5.h"
#include "io/layout.h"

/* What a surrogate kind trains on (kv_surrogate_type.data). */
typedef enum {
  KV_DATA_SCALAR = 1,    /* X (n x d) and y (n)                                           */
  KV_DATA_FIELD = 2,     /* X and the final record of a field per row (n x npts), layout  */
  KV_DATA_SCENARIOS = 4, /* per scenario: ensemble-mean field series (nt x npts) and the
                            global forcing (nt x KV_FORCING_COLS); layout, year0          */
  KV_DATA_SNAPSHOTS = 8  /* state snapshots S (N x m) and tendencies F (N x mf) of a model */
} kv_data_kind;

/* The control climate that climate anomalies are taken from: the mean of these years (as
 * ClimateBench's anomalies from the pre-industrial period). */
#define KV_CONTROL_YEAR_FIRST 1850
#define KV_CONTROL_YEAR_LAST 1900

/* Columns of the scenario forcing and of the inputs a scenario kind predicts from (one row per
 * year): total, CO2 and aerosol global forcing (W m-2), and the solver's own global-mean anomaly
 * where it is known (validation), NaN otherwise. */
enum { KV_FORCING_TOTAL, KV_FORCING_CO2, KV_FORCING_AEROSOL, KV_FORCING_COLS };
enum { KV_SCENARIO_GLOBAL_TRUE = KV_FORCING_COLS, KV_SCENARIO_COLS };

/* Where training data come from and what to take (plain, caller-owned). */
typedef struct {
  char data[4096];         /* a CSV file, a sweep directory or a run output (.h5)       */
  char inputs[2048];       /* comma-separated input names; "": every varied key (sweeps) */
  char output[256];        /* CSV data: the output column                               */
  char qoi[256];           /* sweep data, scalar: a time series or VAR_max/_min/_mean    */
  char field[64];          /* field data: the variable ("": T, else tas)                 */
  char scenarios[1024];    /* scenario data: the scenarios to train on                   */
  long snapshot_every;     /* snapshots of models that re-simulate: every this many steps */
  char files[4096];        /* data = files: glob patterns of the field files          */
  char inputs_table[4096]; /* data = files: their inputs, one row per file            */
} kv_dataset_params;

/* The [surrogate] keys of the training data (data, inputs, output, qoi, field,
 * train_scenarios, snapshot_every). */
extern const kv_config_key kv_dataset_keys[];

/* Fill p from a validated configuration (data may stay "": the caller's default). Not
 * collective. */
int kv_dataset_params_from_config(const kv_config *cfg, kv_dataset_params *p);

typedef struct {
  int kind;          /* kv_data_kind                                             */
  char source[4096]; /* the file or directory read                                */
  /* Inputs (scalar and field data). */
  long n;
  int d;
  char **names;    /* d input names                                             */
  double *X;       /* n x d, row-major                                          */
  double *lo, *hi; /* d: the range of each input column                         */
  long *label;     /* line (CSV) or case number (sweep) of each row             */
  int from_sweep;
  char **files; /* sweep data: the case file of each row                     */
  /* Scalar response. */
  char yname[256];
  double *y; /* n                                                         */
  /* Fields: the final record of each row, or of each year of each scenario. */
  long npts;
  double *fields; /* n x npts (field data)                                     */
  kv_field_layout layout;
  /* Scenarios. */
  int ngroups;        /* scenarios                                                 */
  char (*groups)[64]; /* their names                                               */
  int *members;       /* members averaged per scenario                              */
  long nt;            /* years per scenario                                        */
  int year0;          /* the first year                                            */
  double *series;     /* ngroups x nt x npts ensemble-mean fields                   */
  double *forcing;    /* ngroups x nt x KV_FORCING_COLS                              */
  /* Snapshots of a model for a reduced-order basis. */
  char model[32];
  int ndims;
  long gn[3]; /* grid cells per axis, x first                               */
  long N, m, mf, runs;
  double *S, *F, *uref; /* N x m, N x mf (column-major), N or NULL                    */
  int linear;           /* the model is linear (no tendency snapshots needed)          */
} kv_dataset;

/* Free everything the dataset holds; a zeroed dataset is a no-op. */
void kv_dataset_free(kv_dataset *ds);

/* The rows rows[0..m-1] of scalar or field data ds (inputs, names, y, fields and layout; the
 * ranges of the new columns): for cross-validation folds and the clusters of a mixture. *out is
 * the caller's (kv_dataset_free). Not collective. */
int kv_dataset_subset(const kv_dataset *ds, const long *rows, long m, kv_dataset *out);

/* The smallest and largest value of input column j of ds (the map of a basis to its range). */
void kv_dataset_column_range(const kv_dataset *ds, int j, double *lo, double *hi);

/* 1 when path names a table (".csv"; ".dat", ".tsv", ".txt": blank-separated or Dakota
 * tabular), an HDF5 file (".h5"). */
int kv_dataset_is_csv(const char *path);
int kv_dataset_is_h5(const char *path);

/* Scalar data from a CSV table: p->inputs columns and the p->output column. Bad data (a missing
 * column, a non-numeric cell, a constant input, duplicate rows, fewer rows than inputs) is an
 * error naming the file, line and column. Not collective. */
int kv_dataset_read_csv(const kv_dataset_params *p, kv_dataset *ds);

/* The done cases of a sweep directory: their inputs (p->inputs, default every varied key) and
 * case files. numeric: inputs must be numbers, and the same checks as for CSV data apply; else a
 * non-number becomes NaN. Not collective. */
int kv_dataset_read_sweep(const kv_dataset_params *p, const char *dir, int numeric, kv_dataset *ds);

/* Refuse inputs a fit cannot use: a constant column, duplicate rows, fewer rows than inputs;
 * errors name src and the rows (labels). Not collective. */
int kv_dataset_check_inputs(kv_dataset *ds, const char *src);

/* Field data from files kelvin did not write (surrogate.data = files, dataset_files.c): the files
 * matching patterns (comma-separated globs, sorted by name), each the last record of its variable
 * var (read by netCDF: netCDF-3, netCDF-4 or HDF5), the inputs from table (one row per file in
 * the files' sorted order; the columns in inputs, comma-separated, or all). The files must share
 * the grid (same coordinates); errors name the file. Not collective. */
int kv_dataset_read_files(const char *patterns, const char *table, const char *inputs,
                          const char *var, kv_dataset *ds);

/* Scenario data from a ClimateBench-style set in dir (dataset_files.c): for each scenario S of
 * names (comma-separated), outputs_S.nc's var as ([member,] time, lat, lon), the mean of its
 * first max_members members (0: all), and inputs_S.nc's CO2 (cumulative emissions, a series)
 * and SO2 (a map series, its area-weighted global mean) as the forcing's CO2 and aerosol columns
 * (the total is NaN). A scenario that starts where outputs_historical.nc ends continues it: the
 * historical years are prepended, so every series starts in the control period. The scenarios
 * must then share their years. Not collective. */
int kv_dataset_read_climatebench(const char *dir, const char *names, int max_members,
                                 const char *var, kv_dataset *ds);

/* y of every row from its case file: the QoI qoi (kv_dataset_case_qoi). */
int kv_dataset_read_qoi(kv_dataset *ds, const char *qoi);

/* The final record of field var of every row's case file, and its layout. */
int kv_dataset_read_fields(kv_dataset *ds, const char *var);

/* The ensemble means of field var of the done cases of each scenario in names (comma-separated)
 * of a scenario ensemble in dir, scenario_key being the varied key naming the scenario; at most
 * max_members (0: all) per scenario, the first ones. year0: the runs' first year. The forcing is
 * left to the caller (it comes from the model). Not collective. */
int kv_dataset_read_scenarios(const char *dir, const char *scenario_key, const char *names,
                              int max_members, const char *var, int year0, kv_dataset *ds);

/* A scalar QoI of a case file: a time series' final value, or VAR_max/_min/_mean of a field at
 * the final record. */
int kv_dataset_case_qoi(const char *file, const char *qoi, double *out);

/* The final record of a (time, ...) field: *a holds the whole dataset, *npts the points of one
 * record (the last is at a->data + a->count - *npts). */
int kv_dataset_last_record(const char *file, const char *var, kv_h5_array *a, long *npts);

/* The mean over n files of field var (nt x np each, the same shape). *out malloc'd. */
int kv_dataset_ensemble_mean(char *const *files, int n, const char *var, long *nt, long *np,
                             double **out);

#endif
