// placeholder so the library target has a source until nn lands
