"""What the int8 studies in research/ share (so that no study imports another): the SST-2 probe (`sst2_probe`),
the fp32 start of the later studies (`fp32_probe`), fake quantization (`recipes`), the outlier rewrite
(`outliers`)."""
