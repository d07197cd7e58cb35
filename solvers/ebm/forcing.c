#include "solvers/ebm/forcing.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define KV_PI 3.14159265358979323846
#define DEG (KV_PI / 180.0)

double kv_forcing_insolation_annual(double S0, double s2, double lat) {
  return 0.25 * S0 * (1.0 + s2 * kv_forcing_p2(sin(lat)));
}

double kv_forcing_insolation_daily(double S0, const kv_forcing_orbit *orb, double lat, double day) {
  const double e = orb->ecc, w = orb->long_peri, e2 = e * e, e3 = e2 * e;
  const double beta = sqrt(1.0 - e2);
  /* Mean longitude at the vernal equinox, then the mean longitude of the day (Berger 1978,
   * section 3), and the true longitude from the series of the equation of the centre. */
  double lm0 = -2.0 * ((0.5 * e + 0.125 * e3) * (1.0 + beta) * sin(-w) -
                       0.25 * e2 * (0.5 + beta) * sin(-2.0 * w) +
                       0.125 * e3 * (1.0 / 3.0 + beta) * sin(-3.0 * w));
  double lm = lm0 + (day - 80.0) * 2.0 * KV_PI / 365.2422;
  double lambda = lm + (2.0 * e - 0.25 * e3) * sin(lm - w) + 1.25 * e2 * sin(2.0 * (lm - w)) +
                  (13.0 / 12.0) * e3 * sin(3.0 * (lm - w));
  double delta = asin(sin(orb->obliquity) * sin(lambda));
  /* Hour angle of sunset; polar day and night (Berger 1978, eqs 8-9). */
  double h0;
  if (fabs(lat) >= 0.5 * KV_PI - fabs(delta)) {
    h0 = lat * delta > 0.0 ? KV_PI : 0.0;
  } else {
    h0 = acos(-tan(lat) * tan(delta));
  }
  double rho = (1.0 + e * cos(lambda - w)) / (1.0 - e2); /* a / r */
  return S0 / KV_PI * rho * rho * (h0 * sin(lat) * sin(delta) + cos(lat) * cos(delta) * sin(h0));
}

/* ---------------------------------------------------------------- scenarios */

void kv_forcing_scenario_free(kv_forcing_scenario *s) {
  if (!s) {
    return;
  }
  free(s->co2);
  free(s->aerosol);
  s->co2 = s->aerosol = NULL;
  s->nyears = 0;
}

/* Read one CSV into s (consecutive years). */
static int read_csv(const char *path, kv_forcing_scenario *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", path);
  FILE *f = fopen(path, "r");
  if (!f) {
    return KV_ERROR(KV_ERR_IO, "scenario file '%s': %s", path, strerror(errno));
  }
  char line[1024];
  int lineno = 0, header = 0, cap = 0, rc = KV_OK;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) {
      *hash = '\0';
    }
    char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
      p++;
    }
    if (!*p) {
      continue;
    }
    if (!header) {
      char h[3][64];
      if (sscanf(p, " %63[^, \t] , %63[^, \t] , %63[^, \t\r\n]", h[0], h[1], h[2]) != 3 ||
          strcmp(h[0], "year") != 0 || strcmp(h[1], "co2_ppm") != 0 ||
          strcmp(h[2], "aerosol_index") != 0) {
        rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: expected the header 'year,co2_ppm,aerosol_index'",
                      path, lineno);
        break;
      }
      header = 1;
      continue;
    }
    char *end;
    double v[3];
    int ok = 1;
    for (int c = 0; c < 3 && ok; c++) {
      errno = 0;
      v[c] = strtod(p, &end);
      ok = end != p && errno == 0 && isfinite(v[c]);
      p = end;
      while (*p == ' ' || *p == '\t') {
        p++;
      }
      if (c < 2) {
        ok = ok && *p == ',';
        p++;
      }
    }
    while (ok && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
      p++;
    }
    if (!ok || *p) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: expected three numbers: year,co2_ppm,aerosol_index",
                    path, lineno);
      break;
    }
    int year = (int)v[0];
    if ((double)year != v[0] || (s->nyears > 0 && year != s->year0 + s->nyears)) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: year %g: expected %d (one row per consecutive year)",
                    path, lineno, v[0], s->nyears > 0 ? s->year0 + s->nyears : year);
      break;
    }
    if (!(v[1] > 0.0) || !(v[2] >= 0.0)) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: expected co2_ppm > 0 and aerosol_index >= 0", path,
                    lineno);
      break;
    }
    if (s->nyears == 0) {
      s->year0 = year;
    }
    if (s->nyears == cap) {
      cap = cap ? 2 * cap : 256;
      double *a = realloc(s->co2, (size_t)cap * sizeof *a);
      if (a) {
        s->co2 = a;
      }
      double *b = realloc(s->aerosol, (size_t)cap * sizeof *b);
      if (b) {
        s->aerosol = b;
      }
      if (!a || !b) {
        rc = KV_ERROR(KV_ERR_NOMEM, "scenario: out of memory");
        break;
      }
    }
    s->co2[s->nyears] = v[1];
    s->aerosol[s->nyears] = v[2];
    s->nyears++;
  }
  fclose(f);
  if (rc == KV_OK && s->nyears == 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "scenario file '%s' has no data rows", path);
  }
  if (rc != KV_OK) {
    kv_forcing_scenario_free(s);
  }
  return rc;
}

int kv_forcing_scenario_load(const char *spec, const char *dir, kv_forcing_scenario *out) {
  memset(out, 0, sizeof *out);
  size_t len = strlen(spec);
  int is_path = strchr(spec, '/') != NULL || (len > 4 && strcmp(spec + len - 4, ".csv") == 0);
  char path[4096], hpath[4096];
  if (is_path) {
    snprintf(path, sizeof path, "%s", spec);
  } else {
    snprintf(path, sizeof path, "%s/%s.csv", dir, spec);
  }
  snprintf(hpath, sizeof hpath, "%s/historical.csv", dir);
  kv_forcing_scenario sc;
  int rc = read_csv(path, &sc);
  if (rc != KV_OK) {
    if (!is_path && rc == KV_ERR_IO) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", kv_error_message());
      return KV_ERROR(KV_ERR_CONFIG,
                      "unknown scenario '%s' (%s); the scenarios are the files "
                      "<name>.csv in %s (set ebm.scenario_dir, or KELVIN_DATA_DIR to the "
                      "directory holding configs/scenarios, e.g. PREFIX/share/kelvin)",
                      spec, msg, dir);
    }
    return rc;
  }
  if (strcmp(spec, "historical") == 0 || strcmp(path, hpath) == 0) {
    *out = sc;
    return KV_OK;
  }
  kv_forcing_scenario h;
  rc = read_csv(hpath, &h);
  if (rc != KV_OK) {
    kv_forcing_scenario_free(&sc);
    return rc;
  }
  /* Historical first; the scenario continues it (and wins where both have a year). */
  int y0 = h.year0 < sc.year0 ? h.year0 : sc.year0;
  int y1 = sc.year0 + sc.nyears > h.year0 + h.nyears ? sc.year0 + sc.nyears : h.year0 + h.nyears;
  if (sc.year0 > h.year0 + h.nyears) {
    rc = KV_ERROR(KV_ERR_FORMAT,
                  "scenario '%s' starts in %d, after the historical record ends "
                  "(%d): expected no gap",
                  path, sc.year0, h.year0 + h.nyears - 1);
  }
  if (rc == KV_OK) {
    out->year0 = y0;
    out->nyears = y1 - y0;
    out->co2 = malloc((size_t)out->nyears * sizeof(double));
    out->aerosol = malloc((size_t)out->nyears * sizeof(double));
    if (!out->co2 || !out->aerosol) {
      kv_forcing_scenario_free(out);
      rc = KV_ERROR(KV_ERR_NOMEM, "scenario: out of memory");
    }
  }
  if (rc == KV_OK) {
    for (int y = y0; y < y1; y++) {
      const kv_forcing_scenario *src = (y >= sc.year0 && y < sc.year0 + sc.nyears) ? &sc : &h;
      out->co2[y - y0] = src->co2[y - src->year0];
      out->aerosol[y - y0] = src->aerosol[y - src->year0];
    }
    snprintf(out->name, sizeof out->name, "%s (after %s)", path, hpath);
  }
  kv_forcing_scenario_free(&sc);
  kv_forcing_scenario_free(&h);
  return rc;
}

int kv_forcing_scenario_at(const kv_forcing_scenario *s, int year, double *co2, double *aerosol) {
  if (year < s->year0 || year >= s->year0 + s->nyears) {
    return KV_ERROR(KV_ERR_CONFIG, "scenario %s covers the years %d-%d, not %d", s->name, s->year0,
                    s->year0 + s->nyears - 1, year);
  }
  *co2 = s->co2[year - s->year0];
  *aerosol = s->aerosol[year - s->year0];
  return KV_OK;
}

/* ---------------------------------------------------------------- patterns */

/* Average fn over each cell with a sub-grid of sample points; out[j * nlon + i]. A zonal-mean
 * grid (nlon = 1) samples longitude finely. */
static void cell_average(const kv_sphere *s, double (*fn)(double latd, double lond), double *out) {
  const int sj = 6, si = s->nlon == 1 ? 720 : 6;
  for (int j = 0; j < s->nlat; j++) {
    for (int i = 0; i < s->nlon; i++) {
      double sum = 0.0, wsum = 0.0;
      for (int a = 0; a < sj; a++) {
        double lat = s->lat[j] + ((a + 0.5) / sj - 0.5) * s->dlat;
        double wl = cos(lat);
        for (int b = 0; b < si; b++) {
          double lon = s->lon[i] + ((b + 0.5) / si - 0.5) * s->dlon;
          sum += wl * fn(lat / DEG, lon / DEG);
        }
        wsum += wl * si;
      }
      out[(size_t)j * s->nlon + i] = sum / wsum;
    }
  }
}

/* Longitude difference in degrees, wrapped to [-180, 180). */
static double dlon_deg(double a, double b) {
  double d = fmod(a - b + 540.0, 360.0);
  return d - 180.0;
}

typedef struct {
  double lat, lon, sig_lat, sig_lon, amp;
} patch;

/* Industrial sulphate regions (centre, e-folding widths in degrees, relative strength). */
static const patch g_patches[] = {
    {40.0, 280.0, 8.0, 15.0, 1.0}, /* eastern North America */
    {50.0, 15.0, 8.0, 15.0, 1.0},  /* Europe                */
    {32.0, 115.0, 8.0, 15.0, 1.5}, /* East Asia             */
    {23.0, 80.0, 7.0, 12.0, 1.0},  /* South Asia            */
};

static double aerosol_fn(double lat, double lon) {
  double v = 0.0;
  for (size_t k = 0; k < sizeof g_patches / sizeof g_patches[0]; k++) {
    const patch *p = &g_patches[k];
    double a = (lat - p->lat) / p->sig_lat, b = dlon_deg(lon, p->lon) / p->sig_lon;
    v += p->amp * exp(-0.5 * (a * a + b * b));
  }
  return v;
}

int kv_forcing_aerosol_pattern(const kv_sphere *s, double *out) {
  cell_average(s, aerosol_fn, out);
  double mean = 0.0;
  for (int j = 0; j < s->nlat; j++) {
    for (int i = 0; i < s->nlon; i++) {
      mean += s->w[j] * out[(size_t)j * s->nlon + i];
    }
  }
  if (!(mean > 0.0)) {
    return KV_ERROR(KV_ERR_NUMERIC, "ebm: the aerosol pattern vanishes on this grid");
  }
  for (size_t k = 0; k < (size_t)s->nlat * (size_t)s->nlon; k++) {
    out[k] /= mean;
  }
  return KV_OK;
}

typedef struct {
  double lat0, lat1, lon0, lon1; /* degrees; lon0 > lon1 wraps through 0 E */
} box;

static const box g_land[] = {
    {15.0, 70.0, 235.0, 300.0},   /* North America */
    {-55.0, 12.0, 280.0, 325.0},  /* South America */
    {10.0, 72.0, 350.0, 140.0},   /* Eurasia       */
    {-35.0, 35.0, 345.0, 50.0},   /* Africa        */
    {-38.0, -12.0, 115.0, 153.0}, /* Australia     */
    {-90.0, -68.0, 0.0, 360.0},   /* Antarctica    */
};

static double land_fn(double lat, double lon) {
  lon = fmod(fmod(lon, 360.0) + 360.0, 360.0);
  for (size_t k = 0; k < sizeof g_land / sizeof g_land[0]; k++) {
    const box *b = &g_land[k];
    int in_lon =
        b->lon0 <= b->lon1 ? (lon >= b->lon0 && lon < b->lon1) : (lon >= b->lon0 || lon < b->lon1);
    if (lat >= b->lat0 && lat < b->lat1 && in_lon) {
      return 1.0;
    }
  }
  return 0.0;
}

int kv_forcing_land_idealized(const kv_sphere *s, double *out) {
  cell_average(s, land_fn, out);
  return KV_OK;
}
