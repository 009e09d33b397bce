"""Report figures (seaborn) and their assembly into a PDF; reads only result frames."""
