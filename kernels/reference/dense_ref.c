/* dense_ref.c - fully connected layer, plain C, double accumulation. */
#include "kernels.h"

void dense_ref(const float *in, size_t rows, int cin, int cout, const float *kernel,
               const struct epilogue *ep, float *out)
{
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < cout; k++) {
            double acc = 0;
            for (int i = 0; i < cin; i++) acc += (double)in[r * cin + i] * kernel[(size_t)i * cout + k];
            out[r * cout + k] = (float)acc;
        }
    epilogue_apply_ref(ep, rows, cout, out, cout);
}
