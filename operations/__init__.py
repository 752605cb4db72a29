"""Operations code beside the rules: demo data and the installation check (flask doctor)."""
