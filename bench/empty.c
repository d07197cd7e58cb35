/* The floor for kelvin's start-up: an empty main linked against every library kelvin links
 * (built with --no-as-needed, so that each is loaded and its constructors run). */
int main(void) {
  return 0;
}
