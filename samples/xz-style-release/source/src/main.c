#include <stdio.h>
int main(void) { puts("xz demo"); return 0; }
