/* shop-app: reads an inventory CSV and an orders CSV, prints each order's total (with tax), the
 * backorders and the items left low in stock. Exit 0 on success, 1 on malformed input, 2 on usage. */
#include "shop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SHOP_VERSION
#define SHOP_VERSION "dev"
#endif

static int usage(void) {
    fprintf(stderr, "usage: shop-app [--tax-bp N] [--low-stock N] INVENTORY.csv ORDERS.csv\n"
                    "       shop-app --version\n");
    return 2;
}

/* Data lines of a CSV file: the first line is a header; blank lines and # comments are skipped. */
static int next_data_line(FILE *f, char *buf, size_t len, long *lineno) {
    while (fgets(buf, (int)len, f) != NULL) {
        (*lineno)++;
        if (*lineno == 1 || buf[0] == '#' || buf[strspn(buf, " \t\r\n")] == '\0') {
            continue;
        }
        return 1;
    }
    return 0;
}

static void print_order(const char *id, long subtotal, long tax_bp) {
    char a[32], b[32], c[32];
    long tax = shop_tax(subtotal, tax_bp);
    printf("order %s: subtotal %s tax %s total %s\n", id, shop_money(subtotal, a, sizeof a),
           shop_money(tax, b, sizeof b), shop_money(subtotal + tax, c, sizeof c));
}

int main(int argc, char **argv) {
    long tax_bp = 2000;
    long low_stock = 5;
    int i = 1;
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("shop-app %s\n", SHOP_VERSION);
        return 0;
    }
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        char *end = NULL;
        long v = strtol(argv[i + 1], &end, 10);
        if (*end != '\0' || v < 0) {
            return usage();
        }
        if (strcmp(argv[i], "--tax-bp") == 0) {
            tax_bp = v;
        } else if (strcmp(argv[i], "--low-stock") == 0) {
            low_stock = v;
        } else {
            return usage();
        }
    }
    if (argc - i != 2) {
        return usage();
    }

    static shop_inventory inv;
    char line[512];
    long lineno = 0;
    FILE *f = fopen(argv[i], "r");
    if (f == NULL) {
        perror(argv[i]);
        return 1;
    }
    while (next_data_line(f, line, sizeof line, &lineno)) {
        if (shop_add_item(&inv, line) != 0) {
            fprintf(stderr, "%s:%ld: bad inventory line\n", argv[i], lineno);
            fclose(f);
            return 1;
        }
    }
    fclose(f);

    f = fopen(argv[i + 1], "r");
    if (f == NULL) {
        perror(argv[i + 1]);
        return 1;
    }
    char current[SHOP_SKU_LEN] = "";
    char id[SHOP_SKU_LEN];
    long subtotal = 0, revenue = 0, orders = 0, backorders = 0;
    lineno = 0;
    while (next_data_line(f, line, sizeof line, &lineno)) {
        char copy[512];
        strcpy(copy, line);
        long line_total = 0;
        int rc = shop_apply_order_line(&inv, line, id, sizeof id, &line_total);
        if (rc == -1) {
            fprintf(stderr, "%s:%ld: bad order line: %s", argv[i + 1], lineno, copy);
            fclose(f);
            return 1;
        }
        if (strcmp(id, current) != 0) {
            if (current[0] != '\0') {
                print_order(current, subtotal, tax_bp);
                revenue += subtotal + shop_tax(subtotal, tax_bp);
            }
            strcpy(current, id);
            subtotal = 0;
            orders++;
        }
        if (rc == -2) {
            char *fields[3];
            shop_split_csv(copy, fields, 3);
            printf("backorder %s: %s x %s\n", id, fields[1], fields[2]);
            backorders++;
        }
        subtotal += line_total;
    }
    fclose(f);
    if (current[0] != '\0') {
        print_order(current, subtotal, tax_bp);
        revenue += subtotal + shop_tax(subtotal, tax_bp);
    }
    char money[32];
    printf("summary: %ld orders, %ld backorders, revenue %s\n", orders, backorders,
           shop_money(revenue, money, sizeof money));
    for (size_t k = 0; k < inv.count; k++) {
        if (inv.items[k].stock <= low_stock) {
            printf("low stock: %s (%s) %ld left\n", inv.items[k].sku, inv.items[k].name, inv.items[k].stock);
        }
    }
    return 0;
}
