"""What layers learn: sample photos, gradients, activations, Grad-CAM, gradient ascent, kernel pictures."""
