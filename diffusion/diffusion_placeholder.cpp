// placeholder so the library target has a source until diffusion lands
